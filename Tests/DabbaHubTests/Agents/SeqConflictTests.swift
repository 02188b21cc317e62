import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import HummingbirdTesting
import Logging
import Testing

@testable import DabbaHub

/// A seq that arrives again with a different payload: the first stays stored, the second is kept in
/// `seq_conflicts`, counted, and only then acked (DESIGN.md, delivery guarantee).
@Suite(.serialized) struct SeqConflictTests {
    static let base: Int64 = 1_795_082_400_000

    @Test func theStoreKeepsTheFirstAndRecordsADifferentSecondOnce() async throws {
        let directory = try TestDirectory("seq-conflicts")
        defer { directory.remove() }
        let store = try SQLiteHubStore(path: directory.path("hub.db"), logger: Logger(label: "t"))
        defer { store.close() }
        _ = try await store.createAgent(id: "a-1", name: nil)
        let first = StoredPosition(agent: "a-1", seq: 5, time: Self.base, lat: 22.3, lon: 87.3, speed: 4.5, mode: 3)
        var second = first
        second.time = Self.base + 60_000  // later: it must not become the agent's latest position either
        second.lat = 22.4

        // New, then the identical redelivery: acked both times, never a conflict.
        for _ in 0..<2 {
            let receipt = try await store.store(positions: [first], events: [])
            #expect(receipt.committed == ["a-1": [5]])
            #expect(receipt.conflicts.isEmpty)
        }
        // A different fix under seq 5: acked, and recorded as a conflict.
        let receipt = try await store.store(positions: [second], events: [])
        #expect(receipt.committed == ["a-1": [5]])
        #expect(receipt.conflicts == [SeqConflict.Key(agent: "a-1", seq: 5, kind: .fix)])
        // The same conflicting fix again (its ack was lost): acked, not recorded or counted twice.
        #expect(try await store.store(positions: [second], events: []).conflicts.isEmpty)

        #expect(try await store.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 10) == [first])
        #expect(try await store.agent(id: "a-1")?.last == first)
        let conflicts = try await store.seqConflicts(agent: "a-1", after: nil, limit: 10)
        #expect(conflicts.count == 1)
        #expect(conflicts.first?.kind == .fix)
        #expect(conflicts.first?.seq == 5)
        #expect(conflicts.first?.stored == .fix(first))
        #expect(conflicts.first?.arriving == .fix(second))
        // A later, genuinely new fix still moves the latest position.
        let next = StoredPosition(agent: "a-1", seq: 6, time: Self.base + 1000, lat: 22.31, lon: 87.3)
        #expect(try await store.store(positions: [next], events: []).conflicts.isEmpty)
        #expect(try await store.agent(id: "a-1")?.last?.seq == 6)
    }

    @Test func eventsUnderAStoredSeqAreComparedTheSameWay() async throws {
        let directory = try TestDirectory("seq-conflicts-events")
        defer { directory.remove() }
        let store = try SQLiteHubStore(path: directory.path("hub.db"), logger: Logger(label: "t"))
        defer { store.close() }
        _ = try await store.createAgent(id: "a-1", name: nil)
        func stored(_ event: AgentEvent) -> DeviceEvent {
            DeviceEvent(
                agent: event.agent, seq: event.seq, time: Timestamp.parse(event.time) ?? 0, order: event.order,
                type: event.type.rawValue, payload: event.jsonBytes())
        }
        let accepted = AgentEvent(agent: "a-1", seq: 9, time: "2026-11-25T10:00:00.000Z", order: "o-1", type: .accepted)
        // The same event, spelled differently (the time without milliseconds): still the same event.
        var respelled = stored(accepted)
        respelled.payload = Array(
            String(decoding: respelled.payload, as: UTF8.self).replacingOccurrences(of: ".000Z", with: "Z").utf8)
        let delivered = AgentEvent(
            agent: "a-1", seq: 9, time: "2026-11-25T10:00:00.000Z", order: "o-1", type: .delivered, cashCollected: 500)

        #expect(try await store.store(positions: [], events: [stored(accepted)]).conflicts.isEmpty)
        #expect(try await store.store(positions: [], events: [stored(accepted)]).conflicts.isEmpty)
        #expect(try await store.store(positions: [], events: [respelled]).conflicts.isEmpty)
        let receipt = try await store.store(positions: [], events: [stored(delivered)])
        #expect(receipt.committed == ["a-1": [9]])
        #expect(receipt.conflicts == [SeqConflict.Key(agent: "a-1", seq: 9, kind: .event)])

        let conflicts = try await store.seqConflicts(agent: "a-1", after: nil, limit: 10)
        #expect(conflicts.map(\.kind) == [.event])
        #expect(conflicts.first?.stored == .event(accepted))
        #expect(conflicts.first?.arriving == .event(delivered))
        // The stored event is still the one dispatch applies.
        #expect(try await store.unappliedEvents(limit: 10).map(\.type) == ["accepted"])
    }

    /// Real mosquitto and the hub's MQTT ingest: an event, then a different event under its seq.
    @Test func ingestCountsAConflictingEventBeforeAckingIt() async throws {
        let h = try await IngestHarness()
        defer { h.shutdown() }
        let accepted = AgentEvent(agent: "a-1", seq: 3, time: "2026-11-25T10:00:00.000Z", order: "o-1", type: .accepted)
        let rejected = AgentEvent(agent: "a-1", seq: 3, time: "2026-11-25T10:00:01.000Z", order: "o-1", type: .rejected)
        try await h.publish(Topics.events(agent: "a-1"), bytes: accepted.jsonBytes())
        #expect(await eventually { h.acks(naming: 3, for: "a-1") == 1 })
        #expect(h.metric("dabba_ingest_seq_conflicts_total") == 0)
        try await h.publish(Topics.events(agent: "a-1"), bytes: accepted.jsonBytes())  // a redelivery
        #expect(await eventually { h.acks(naming: 3, for: "a-1") == 2 })
        #expect(h.metric("dabba_ingest_seq_conflicts_total") == 0)
        try await h.publish(Topics.events(agent: "a-1"), bytes: rejected.jsonBytes())
        #expect(await eventually { h.acks(naming: 3, for: "a-1") == 3 })
        // Counted before the ack went out.
        #expect(h.metric("dabba_ingest_seq_conflicts_total") == 1)
        let conflicts = try await h.store.seqConflicts(agent: "a-1", after: nil, limit: 10)
        #expect(conflicts.map(\.arriving) == [.event(rejected)])
    }

    /// The whole hub (its MQTT ingest, REST and /metrics) over real mosquitto: a fix, then a different fix under
    /// the same seq. The second is acked, the first stays the position, the second is in the conflicts, counted.
    @Test func aDifferentFixUnderAStoredSeqIsAckedKeptAndCounted() async throws {
        let directory = try TestDirectory("seq-conflicts-live")
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let harness = try HubHarness(["mqtt-port": "\(broker.port)", "commit-interval-ms": "10"], directory: directory)
        defer { harness.close() }
        _ = try await harness.store.createAgent(id: "a-1", name: nil)
        try await harness.addUser("op@example.com", role: .operator)
        let hub = try await HubComponents.make(
            configuration: harness.configuration, store: harness.store, logger: harness.logger, bcryptCost: 4)
        let app = buildApplication(hub: hub, logger: harness.logger)
        let publisher = try await TestSubscriber.start(port: broker.port, filter: "unused/#")
        defer { publisher.client.shutdown() }
        let acks = try await TestSubscriber.start(port: broker.port, filter: Topics.ack(agent: "a-1"))
        defer { acks.client.shutdown() }
        let first = Fix(
            agent: "a-1", seq: 7, time: Timestamp.format(milliseconds: Self.base), lat: 22.3, lon: 87.3, mode: 3)
        let second = {
            var fix = first
            fix.time = Timestamp.format(milliseconds: Self.base + 5000)
            fix.lat = 22.35
            return fix
        }()

        try await app.test(.live) { client in
            #expect(await eventually { hub.mqtt.isSubscribed })
            let (token, _) = try await client.login("op@example.com")
            try await publisher.client.publishAndWait(
                MQTTMessage(topic: Topics.fix(agent: "a-1"), payload: first.jsonBytes(), qos: .atLeastOnce))
            #expect(await eventually { Self.acks(naming: 7, for: "a-1", in: acks.messages) == 1 })
            try await publisher.client.publishAndWait(
                MQTTMessage(topic: Topics.fix(agent: "a-1"), payload: second.jsonBytes(), qos: .atLeastOnce))
            #expect(
                await eventually { Self.acks(naming: 7, for: "a-1", in: acks.messages) == 2 },
                "the conflicting fix is acked once kept")

            let positions = try await client.send(.get, "/v1/agents/a-1/positions", token: token)
            #expect(positions.status == .ok)
            let stored = positions.json?["positions"] as? [JSONObject]
            #expect(stored?.count == 1)
            #expect(stored?.first?["lat"] as? Double == 22.3)
            #expect(stored?.first?["time"] as? String == first.time)

            let page = try await client.send(.get, "/v1/agents/a-1/seq-conflicts", token: token)
            #expect(page.status == .ok, "\(page.text)")
            let conflicts = page.json?["conflicts"] as? [JSONObject]
            #expect(conflicts?.count == 1)
            #expect(conflicts?.first?["seq"] as? Int == 7)
            #expect(conflicts?.first?["kind"] as? String == "fix")
            #expect((conflicts?.first?["stored"] as? JSONObject)?["lat"] as? Double == 22.3)
            #expect((conflicts?.first?["arriving"] as? JSONObject)?["lat"] as? Double == 22.35)
            #expect((conflicts?.first?["arriving"] as? JSONObject)?["time"] as? String == second.time)
            #expect(page.json?.keys.contains("next") == true && page.json?["next"] is NSNull)

            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.text.split(separator: "\n").contains("dabba_ingest_seq_conflicts_total 1"))
        }
    }

    @Test func theConflictsRouteIsForOperatorsAndPaged() async throws {
        let h = try HubHarness()
        defer { h.close() }
        _ = try await h.store.createAgent(id: "a-1", name: nil)
        try await h.addUser("op@example.com", role: .operator)
        try await h.addUser("agent@example.com", role: .agent, agentID: "a-1")
        let original = (1...3).map { StoredPosition(agent: "a-1", seq: Int64($0), time: Self.base, lat: 1, lon: 2) }
        _ = try await h.store.store(positions: original, events: [])
        let reissued = original.map { position in
            var moved = position
            moved.lon = 3
            return moved
        }
        #expect(try await h.store.store(positions: reissued, events: []).conflicts.count == 3)
        try await h.run { client, _ in
            let (op, _) = try await client.login("op@example.com")
            let (agent, _) = try await client.login("agent@example.com")
            #expect(try await client.send(.get, "/v1/agents/a-1/seq-conflicts").status == .unauthorized)
            #expect(try await client.send(.get, "/v1/agents/a-1/seq-conflicts", token: agent).status == .forbidden)
            #expect(try await client.send(.get, "/v1/agents/no-such/seq-conflicts", token: op).status == .notFound)
            for bad in ["limit=0", "limit=1001", "limit=x", "cursor=-1", "cursor=abc"] {
                let response = try await client.send(.get, "/v1/agents/a-1/seq-conflicts?\(bad)", token: op)
                #expect(response.status == .badRequest && response.errorCode == "bad_request", "\(bad)")
            }
            var seqs: [Int] = []
            var query = "limit=2"
            var pages = 0
            while pages < 10 {
                let page = try await client.send(.get, "/v1/agents/a-1/seq-conflicts?\(query)", token: op)
                #expect(page.status == .ok)
                pages += 1
                seqs += (page.json?["conflicts"] as? [JSONObject] ?? []).compactMap { $0["seq"] as? Int }
                guard let next = page.json?["next"] as? String else { break }
                query = "limit=2&cursor=\(next)"
            }
            #expect(seqs == [1, 2, 3])
            #expect(pages == 2)
        }
    }
}

extension SeqConflictTests {
    /// How many of `messages` are acks for `agent` naming `seq`.
    static func acks(naming seq: Int64, for agent: String, in messages: [MQTTMessage]) -> Int {
        messages.filter { message in
            guard message.topic == Topics.ack(agent: agent),
                let ack = try? PayloadCoding.decode(AckMessage.self, from: message.payload),
                let ranges = try? ack.ranges()
            else { return false }
            return ranges.contains { $0.contains(seq) }
        }.count
    }
}

extension IngestHarness {
    /// How many ack messages for `agent` so far name `seq`.
    func acks(naming seq: Int64, for agent: String) -> Int {
        SeqConflictTests.acks(naming: seq, for: agent, in: acks.messages)
    }
}
