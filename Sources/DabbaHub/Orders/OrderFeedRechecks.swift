import NIOConcurrencyHelpers
import NIOCore

/// One hub-wide timer for the open order feeds' access re-checks (``OrderLiveController``). Each feed registers
/// its inbox, its period and when its access token expires; a tick every `resolution` posts `.recheck` to the
/// feeds that are due: every `period`, and once just after the expiry. A feed costs one small entry here instead
/// of two timers on its event loop (a scheduled task with its closure and promise each, about 1 KiB a feed with
/// 10,000 feeds open: BENCHMARKS.md). The tick runs only while a feed is registered.
///
/// A feed's first periodic re-check comes at a random point of its first period, not a whole period after it
/// opened: feeds opened together (a hub restart, a lunch rush) would otherwise be re-checked together, every
/// period, each re-check a writer task with two store reads (10,000 feeds opened within 4 s: ~2,500 at once).
final class OrderFeedRechecks: Sendable {
    private struct Entry {
        let inbox: OrderFeedInbox
        let period: Int64
        var due: Int64
        /// When the access token expires (monotonic ms); nil once posted, or without a token.
        var expiry: Int64?
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var tick: RepeatedTask?
    }

    /// How late a re-check may come after it is due.
    let resolution: TimeAmount
    /// Milliseconds from registration to a feed's first periodic re-check, given its period (ms).
    private let firstDelay: @Sendable (Int64) -> Int64
    private let state = NIOLockedValueBox(State())

    /// `resolution`: the tick period, at most the shortest period a feed registers with (so a feed's re-checks
    /// come every `period`, up to `resolution` late). `firstDelay`: when a feed's first periodic re-check comes
    /// (default: uniformly within its first period; tests pass a fixed one).
    init(
        resolution: Duration,
        firstDelay: @escaping @Sendable (Int64) -> Int64 = { period in Int64.random(in: 1...max(period, 1)) }
    ) {
        self.resolution = TimeAmount(max(resolution, .milliseconds(10)))
        self.firstDelay = firstDelay
    }

    /// Registers a feed: `.recheck` to `inbox` every `period` (the first within one period, see `firstDelay`), and
    /// once when `expiresIn` (ms from now; nil: no token) has passed. The tick starts on `loop` when it is not running. Returns what unregisters the feed.
    func register(_ inbox: OrderFeedInbox, every period: Duration, expiresIn: Int64?, on loop: any EventLoop)
        -> @Sendable () -> Void
    {
        let now = Self.monotonicMilliseconds()
        let periodMs = max(period.dabbaMilliseconds, 1)
        // Bounded: `millisecondsLeft()` is at most a day, far below Int64 overflow of a monotonic clock.
        let expiry = expiresIn.map { now + max($0, 0) }
        let first = now + min(max(firstDelay(periodMs), 1), periodMs)
        let id = state.withLockedValue { state -> UInt64 in
            let id = state.nextID
            state.nextID += 1
            state.entries[id] = Entry(inbox: inbox, period: periodMs, due: first, expiry: expiry)
            if state.tick == nil {
                state.tick = loop.scheduleRepeatedTask(initialDelay: resolution, delay: resolution) { [weak self] _ in
                    self?.fire(now: Self.monotonicMilliseconds())
                }
            }
            return id
        }
        return { [weak self] in self?.unregister(id) }
    }

    /// The feeds registered now.
    var count: Int { state.withLockedValue { $0.entries.count } }

    private func unregister(_ id: UInt64) {
        let stopped = state.withLockedValue { state -> RepeatedTask? in
            state.entries[id] = nil
            guard state.entries.isEmpty else { return nil }
            defer { state.tick = nil }
            return state.tick
        }
        stopped?.cancel()
    }

    /// Posts `.recheck` to every feed due at `now` (monotonic ms) and sets its next time; the posts happen after
    /// the lock is released.
    func fire(now: Int64) {
        let due = state.withLockedValue { state -> [OrderFeedInbox] in
            var due: [OrderFeedInbox] = []
            // In place (`values` is mutable by index): no copy of the table per tick.
            var index = state.entries.values.startIndex
            while index != state.entries.values.endIndex {
                var post = false
                if state.entries.values[index].due <= now {
                    post = true
                    state.entries.values[index].due = now + state.entries.values[index].period
                }
                if let expiry = state.entries.values[index].expiry, expiry <= now {
                    post = true
                    state.entries.values[index].expiry = nil
                }
                if post { due.append(state.entries.values[index].inbox) }
                state.entries.values.formIndex(after: &index)
            }
            return due
        }
        for inbox in due { inbox.post(.recheck) }
    }

    static func monotonicMilliseconds() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }
}
