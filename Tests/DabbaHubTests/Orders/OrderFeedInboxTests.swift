import DabbaProtocol
@testable import HubModel
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
