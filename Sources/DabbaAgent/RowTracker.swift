import DabbaMQTT
import DabbaProtocol

/// Where the outbox rows of this session are: in flight in a message (until its PUBACK) or sent (until the hub's ack
/// deletes them, or `ack-timeout` sends them again). A row not tracked is waiting in the outbox to be sent.
///
/// Kept as sorted, disjoint runs of consecutive seqs that share a state, not one entry per row: a backlog message's
/// rows are consecutive, so a message is one run and its PUBACK and ack touch one run, where a dictionary of rows did
/// a lookup, an insert, an update and a removal for every row (a fifth of the engine's time in the drain benchmark,
/// BENCHMARKS.md). Live fixes are runs of one.
struct RowTracker {
    enum Track: Equatable {
        case inFlight(MQTTMessageID)
        case sent(at: Int64)
    }

    struct Run: Equatable {
        var seqs: ClosedRange<Int64>
        var track: Track
    }

    /// The rows in `range`.
    static func rows(in range: ClosedRange<Int64>) -> Int { Int(range.upperBound - range.lowerBound) + 1 }

    /// Sorted by seq, disjoint.
    private(set) var runs: [Run] = []
    /// Rows tracked.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// The row's state, nil when it is not tracked.
    subscript(_ seq: Int64) -> Track? {
        let i = firstRun(endingAtOrAfter: seq)
        guard i < runs.count, runs[i].seqs.contains(seq) else { return nil }
        return runs[i].track
    }

    func contains(_ seq: Int64) -> Bool { self[seq] != nil }

    /// Tracks `seqs` (ascending or not) as `track`, replacing what they were.
    mutating func set(_ seqs: some Sequence<Int64>, _ track: Track) {
        for range in AckMessage.ranges(of: seqs) {
            update(range) { _ in nil }
            let i = firstRun(endingAtOrAfter: range.lowerBound)
            runs.insert(Run(seqs: range, track: track), at: i)
            count += Self.rows(in: range)
        }
    }

    /// Stops tracking `seqs`.
    mutating func remove(_ seqs: some Sequence<Int64>) {
        for range in AckMessage.ranges(of: seqs) { remove(range) }
    }

    /// Stops tracking every seq in `range`.
    mutating func remove(_ range: ClosedRange<Int64>) { update(range) { _ in nil } }

    /// The rows of `seqs` in flight in message `mid` are sent, at `time`; others are left as they are.
    mutating func markSent(_ seqs: some Sequence<Int64>, inFlightIn mid: MQTTMessageID, at time: Int64) {
        for range in AckMessage.ranges(of: seqs) {
            update(range) { $0 == .inFlight(mid) ? .sent(at: time) : $0 }
        }
    }

    /// The rows sent before `limit`, as ranges.
    func sent(before limit: Int64) -> [ClosedRange<Int64>] {
        runs.compactMap { run in
            if case .sent(let at) = run.track, at < limit { run.seqs } else { nil }
        }
    }

    mutating func removeAll() {
        runs = []
        count = 0
    }

    /// The first run whose last seq is at or after `seq` (`runs.count` when none).
    private func firstRun(endingAtOrAfter seq: Int64) -> Int {
        var low = 0
        var high = runs.count
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].seqs.upperBound < seq { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Replaces the state of every tracked row in `range` by `transform`'s answer (nil: no longer tracked); the
    /// parts of runs outside `range` keep theirs.
    private mutating func update(_ range: ClosedRange<Int64>, _ transform: (Track) -> Track?) {
        let start = firstRun(endingAtOrAfter: range.lowerBound)
        var end = start
        var replacement: [Run] = []
        while end < runs.count, runs[end].seqs.lowerBound <= range.upperBound {
            let run = runs[end]
            let inside = max(run.seqs.lowerBound, range.lowerBound)...min(run.seqs.upperBound, range.upperBound)
            if run.seqs.lowerBound < inside.lowerBound {
                replacement.append(Run(seqs: run.seqs.lowerBound...(inside.lowerBound - 1), track: run.track))
            }
            if let track = transform(run.track) {
                replacement.append(Run(seqs: inside, track: track))
            } else {
                count -= Self.rows(in: inside)
            }
            if inside.upperBound < run.seqs.upperBound {
                replacement.append(Run(seqs: (inside.upperBound + 1)...run.seqs.upperBound, track: run.track))
            }
            end += 1
        }
        guard end > start else { return }
        runs.replaceSubrange(start..<end, with: replacement)
    }
}
