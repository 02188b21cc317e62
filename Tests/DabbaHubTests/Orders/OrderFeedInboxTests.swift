import DabbaProtocol
@testable import HubModel
import NIOPosix
import Synchronization
import Testing

@testable import DabbaHub

/// The order feed's inbox: one writer at a time, started only when there is something to write, items in order
/// with fixes coalesced.
struct OrderFeedInboxTests {
    final class Starts: Sendable {
        let count = Atomic<Int>(0)
        var value: Int { count.load(ordering: .sequentiallyConsistent) }
        func start() { count.add(1, ordering: .sequentiallyConsistent) }
    }

    static func fix(_ seq: Int64) -> OrderFeedInbox.Item {
        .position(StoredPosition(agent: "a-1", seq: seq, time: 1_000 * seq, lat: 12, lon: 77))
    }

    static func event(_ id: Int64) -> OrderFeedInbox.Item {
        .event(
            OrderEvent(
                id: id, order: "o-1", restaurant: "r-1", customer: 7, agent: nil, status: .confirmed, action: .accept,
                time: "2026-11-26T10:00:0\(id).000Z", actor: "restaurant"))
    }

    @Test func oneWriterAtATimeStartedOnlyWhenThereIsSomethingToWrite() {
        let inbox = OrderFeedInbox()
        let starts = Starts()
        inbox.post(Self.event(1))
        #expect(starts.value == 0)
        inbox.start { starts.start() }
        #expect(starts.value == 1, "the first writer (the snapshot's) starts at once")
        inbox.post(Self.fix(1))
        inbox.post(Self.event(2))
        inbox.post(Self.fix(2))
        #expect(starts.value == 1, "no second writer while one runs")
        #expect(
            inbox.take() == [Self.event(1), Self.fix(2), Self.event(2)], "in order, the newer fix in the older's place")
        #expect(inbox.take() == nil)
        #expect(starts.value == 1)
        inbox.post(Self.fix(3))
        #expect(starts.value == 2, "a post after the writer stopped starts the next")
        inbox.post(Self.fix(4))
        #expect(starts.value == 2)
        #expect(inbox.take() == [Self.fix(4)])
        #expect(inbox.take() == nil)
    }

    @Test func eventsBeyondTheLimitDropTheOldestAndAFinishedInboxStartsNothing() {
        let inbox = OrderFeedInbox(maxEvents: 3)
        let starts = Starts()
        inbox.start { starts.start() }
        for id in 1...5 { inbox.post(Self.event(Int64(id))) }
        #expect(inbox.take() == [Self.event(3), Self.event(4), Self.event(5)])
        #expect(inbox.take() == nil)
        inbox.finish()
        inbox.post(Self.fix(1))
        #expect(starts.value == 1)
        #expect(inbox.take() == nil)
        inbox.start { starts.start() }
        #expect(starts.value == 1, "a finished inbox starts no writer")
    }
}

/// The hub-wide re-check timer of the open order feeds: each feed gets `.recheck` every period and once after its
/// token expires; an unregistered feed gets nothing. Driven with explicit times (`fire(now:)`); the real tick is an
/// hour away so it cannot interfere.
struct OrderFeedRechecksTests {
    @Test func eachFeedIsRecheckedEveryPeriodAndOnceAtItsExpiry() {
        let rechecks = OrderFeedRechecks(resolution: .seconds(3_600), firstDelay: { $0 })
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let signedIn = OrderFeedInbox()
        let shared = OrderFeedInbox()
        let start = OrderFeedRechecks.monotonicMilliseconds()
        let stopSignedIn = rechecks.register(signedIn, every: .seconds(30), expiresIn: 45_000, on: loop)
        let stopShared = rechecks.register(shared, every: .seconds(5), expiresIn: nil, on: loop)
        #expect(rechecks.count == 2)
        // No writer was started, so what a feed was posted stays in its inbox for `take()`.
        signedIn.start {}
        shared.start {}
        _ = signedIn.take()
        _ = shared.take()
        rechecks.fire(now: start + 1_000)
        #expect(signedIn.take() == nil && shared.take() == nil, "nothing is due after a second")
        rechecks.fire(now: start + 6_000)
        #expect(signedIn.take() == nil)
        #expect(shared.take() == [.recheck], "the share link's feed every 5 s")
        rechecks.fire(now: start + 31_000)
        #expect(signedIn.take() == [.recheck], "the signed-in feed every 30 s")
        rechecks.fire(now: start + 46_000)
        #expect(signedIn.take() == [.recheck], "and once when its token has expired")
        rechecks.fire(now: start + 50_000)
        #expect(signedIn.take() == nil, "the expiry re-check comes once")
        #expect(shared.take() == [.recheck], "still every 5 s (one pending at most)")
        stopShared()
        rechecks.fire(now: start + 100_000)
        #expect(shared.take() == nil, "an unregistered feed gets nothing")
        #expect(signedIn.take() == [.recheck])
        stopSignedIn()
        #expect(rechecks.count == 0)
    }

    /// Feeds opened at the same moment are not re-checked at the same moments: their first re-checks spread over
    /// the first period (each re-check costs a task and two store reads).
    @Test func feedsOpenedTogetherAreRecheckedAtSpreadOutTimes() {
        let rechecks = OrderFeedRechecks(resolution: .seconds(3_600))
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let start = OrderFeedRechecks.monotonicMilliseconds()
        let inboxes = (0..<1_000).map { _ in OrderFeedInbox() }
        let stops = inboxes.map { rechecks.register($0, every: .seconds(30), expiresIn: nil, on: loop) }
        for inbox in inboxes {
            inbox.start {}
            _ = inbox.take()
        }
        // Second by second through the first period: each feed is re-checked once in it, never most of them at once
        // (uniform over 30 s: ~33 a second; all 1,000 in one second if the first re-check were not spread).
        var perSecond: [Int] = []
        for second in 1...30 {
            // The last tick at 30.999 s: the feeds registered a few ms after `start` are due up to then.
            rechecks.fire(now: start + Int64(second) * 1_000 - (second == 30 ? -999 : 0))
            perSecond.append(inboxes.filter { $0.take() == [.recheck] }.count)
        }
        #expect(perSecond.reduce(0, +) == 1_000, "\(perSecond)")
        #expect(perSecond.max()! <= 150, "\(perSecond)")
        for stop in stops { stop() }
    }
}
