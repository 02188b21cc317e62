/// Turns gpsd's TPV stream into one fix per epoch: exactly one fix per distinct fix time, in strictly increasing
/// time order, preferring the best TPV of an epoch (see ``GPSReaderConfiguration/epochSettle``).
///
/// A receiver's clock can go back (a leap-second correction, a receiver reset, a first fix dated wrongly and then
/// corrected). Epochs at or before the last emitted time are dropped, but once ``backwardJumpEpochs`` distinct
/// epochs in a row, each later than the one before, have all been behind, the filter takes the receiver's new
/// timeline: it forgets the last emitted time and emits from that epoch on (``backwardResets`` counts it). A bounded
/// number of epochs is lost; recording never stops for good.
///
/// A pure value type driven by the reader thread with monotonic milliseconds, so it is tested without gpsd.
struct EpochFilter: Sendable {
    /// Distinct, increasing epochs behind the last emitted time after which the filter follows the receiver back.
    static let backwardJumpEpochs = 5
    /// How long an incomplete fix waits for a better one with the same time.
    let settleMilliseconds: Int64
    /// The time of the last fix handed out; anything at or before it is dropped.
    private(set) var lastEmittedTime: Int64?
    private var pending: GPSFix?
    private var pendingDeadline: Int64 = 0
    /// The run of epochs behind the last emitted time: how many, and the newest of them.
    private var behind: (count: Int, newest: Int64)?
    /// How often the filter followed the receiver's clock back.
    private(set) var backwardResets = 0

    init(settleMilliseconds: Int64) { self.settleMilliseconds = settleMilliseconds }

    /// When the pending fix is due (monotonic ms), nil when nothing is pending.
    var deadline: Int64? { pending == nil ? nil : pendingDeadline }

    /// Offers a TPV's fix received at `now`; returns the fixes to emit now, oldest first (zero, one or two).
    mutating func offer(_ fix: GPSFix, now: Int64) -> [GPSFix] {
        if let last = lastEmittedTime, fix.timeMilliseconds <= last {
            guard followsClockBack(fix.timeMilliseconds) else { return [] }
            lastEmittedTime = nil
            pending = nil
            behind = nil
            backwardResets += 1
        } else {
            behind = nil
        }
        var out: [GPSFix] = []
        if let held = pending {
            if fix.timeMilliseconds < held.timeMilliseconds { return [] }  // out of order: older than what we hold
            if fix.timeMilliseconds == held.timeMilliseconds {
                guard Self.score(fix) >= Self.score(held) else { return [] }
                pending = fix  // gpsd accumulates within an epoch: a later TPV that is no worse has more data
                if Self.isComplete(fix) { out.append(take()) }
                return out
            }
            out.append(take())  // a newer epoch began: the held one is final
        }
        if Self.isComplete(fix) {
            lastEmittedTime = fix.timeMilliseconds
            out.append(fix)
        } else {
            pending = fix
            pendingDeadline = now + settleMilliseconds
        }
        return out
    }

    /// Notes an epoch behind the last emitted time; true once the run of them is long enough to follow.
    private mutating func followsClockBack(_ time: Int64) -> Bool {
        if let run = behind {
            guard time != run.newest else { return false }  // the same epoch again: not a new one
            behind = time > run.newest ? (run.count + 1, time) : (1, time)
        } else {
            behind = (1, time)
        }
        return (behind?.count ?? 0) >= Self.backwardJumpEpochs
    }

    /// The pending fix once its settle time has passed at `now`.
    mutating func due(now: Int64) -> GPSFix? {
        guard pending != nil, now >= pendingDeadline else { return nil }
        return take()
    }

    /// The pending fix regardless of its deadline (the connection ended: nothing better will come for it).
    mutating func flush() -> GPSFix? { pending == nil ? nil : take() }

    private mutating func take() -> GPSFix {
        let fix = pending!
        pending = nil
        lastEmittedTime = fix.timeMilliseconds
        return fix
    }

    /// Nothing better can arrive for this epoch: 3D with every optional value present.
    static func isComplete(_ fix: GPSFix) -> Bool {
        fix.mode >= 3 && fix.altitude != nil && fix.speed != nil && fix.track != nil && fix.horizontalAccuracy != nil
    }

    /// Mode first, then how many optional values are known.
    static func score(_ fix: GPSFix) -> Int {
        let known = [fix.altitude, fix.speed, fix.track, fix.horizontalAccuracy].filter { $0 != nil }.count
        return fix.mode * 10 + known
    }
}
