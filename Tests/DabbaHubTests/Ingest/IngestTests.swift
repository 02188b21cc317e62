import DabbaHub
import DabbaProtocol
import DabbaSQLite
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import Logging
import Testing

@Suite(.serialized) struct IngestTests {
    @Test func fixesAreStoredOnceThenAckedAndTheLatestNeverRegresses() async throws {
        let h = try await IngestHarness()
        defer { h.shutdown() }
        for seq in Int64(10)...12 {
            try await h.publish(Topics.fix(agent: "a-1"), bytes: PayloadCoding.encode(IngestHarness.fix("a-1", seq)))
        }
        // A late backlog with older fixes, overlapping the live ones, and the same message again (QoS 1 redelivery).
        let backlog = BacklogMessage(v: 1, agent: "a-1", fixes: (Int64(1)...11).map { IngestHarness.fix("a-1", $0) })
        try await h.publish(Topics.backlog(agent: "a-1"), bytes: PayloadCoding.encode(backlog))
        try await h.publish(Topics.backlog(agent: "a-1"), bytes: PayloadCoding.encode(backlog))
        try await h.publish(Topics.fix(agent: "a-1"), bytes: PayloadCoding.encode(IngestHarness.fix("a-1", 12)))

        #expect(await eventually { h.ackedSeqs("a-1") == Set(1...12) })
        #expect(try await h.store.positionCount(agent: "a-1") == 12)
        let positions = try await h.store.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 100)
        #expect(positions.map(\.seq) == Array(1...12))  // fix-time order
        // The newest fix (seq 12) stays the latest although older fixes arrived after it.
        #expect(try await h.store.agent(id: "a-1")?.last?.seq == 12)
        #expect(h.feed.snapshot().positions.first?.seq == 12)
        #expect(h.metric("dabba_ingest_committed_total") >= 12)
    }

    /// Pipelined commits (tiny batches, so several are in flight one after another while the receiver goes on): a
    /// batch whose transaction fails is never acked, everything acked is stored, and the rest goes on.
    @Test func aFailedPipelinedCommitIsNeverAcked() async throws {
        let h = try await IngestHarness(
            agents: ["a-1", "a-2", "sentinel"], overrides: ["commit-batch": "3", "commit-interval-ms": "5"])
        defer { h.shutdown() }
        // Another connection to the same file makes every transaction holding seq 13 of a-1 fail.
        let db = try SQLiteConnection(path: h.directory.path("hub.db"))
        try db.execute("PRAGMA busy_timeout = 5000")
        try db.execute(
            """
            CREATE TRIGGER fail_13 BEFORE INSERT ON positions WHEN NEW.agent = 'a-1' AND NEW.seq = 13
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END
            """)
        for seq in Int64(1)...30 {
            for agent in ["a-1", "a-2"] {
                try await h.publish(Topics.fix(agent: agent), bytes: IngestHarness.fix(agent, seq).jsonBytes())
            }
        }
        // Every row is accounted for: committed, or in a failed batch.
        #expect(
            await eventually {
                h.metric("dabba_ingest_committed_total")
                    + h.metric("dabba_ingest_rejected_total", reason: "store_failed") == 60
            })
        #expect(h.metric("dabba_ingest_rejected_total", reason: "store_failed") >= 1)
        #expect(h.metric("dabba_ingest_committed_total") >= 50)
        // The last acks: a sentinel fix, received after all 60, is committed and acked after their batches (commits
        // and acks go out in order), so once its ack arrived every earlier ack has too.
        try await h.publish(Topics.fix(agent: "sentinel"), bytes: IngestHarness.fix("sentinel", 1).jsonBytes())
        #expect(await eventually { h.ackedSeqs("sentinel") == [1] })
        for agent in ["a-1", "a-2"] {
            let stored = Set(
                try await h.store.positions(agent: agent, since: nil, until: nil, after: nil, limit: 100).map(\.seq))
            #expect(h.ackedSeqs(agent).isSubset(of: stored), "\(agent): acked but not stored")
        }
        #expect(!h.ackedSeqs("a-1").contains(13))
        #expect(try await h.store.positionCount(agent: "a-1") < 30)
        // Once the store accepts again, the agent's resend is committed and acked.
        try db.execute("DROP TRIGGER fail_13")
        for seq in Int64(1)...30 {
            for agent in ["a-1", "a-2"] {
                try await h.publish(Topics.fix(agent: agent), bytes: IngestHarness.fix(agent, seq).jsonBytes())
            }
        }
        for agent in ["a-1", "a-2"] {
            #expect(await eventually { h.ackedSeqs(agent) == Set(1...30) }, "\(agent)")
            #expect(try await h.store.positionCount(agent: agent) == 30)
        }
    }

    /// History is in fix-time order even where seq order differs, and paging by (time, seq) walks it exactly once.
    @Test func historyIsInFixTimeOrder() async throws {
        let h = try await IngestHarness()
        defer { h.shutdown() }
        let base: Int64 = 1_795_082_400_000
        // seq 1…20 with times running backwards in pairs, and two fixes sharing a time.
        let times: [Int64] = (1...20).map { base + Int64((21 - $0) / 2) * 1000 }
        let rows = (1...20).map { StoredPosition(agent: "a-1", seq: Int64($0), time: times[$0 - 1], lat: 1, lon: 2) }
        _ = try await h.store.store(positions: rows, events: [])
        let expected = rows.sorted { ($0.time, $0.seq) < ($1.time, $1.seq) }.map(\.seq)
        let all = try await h.store.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 100)
        #expect(all.map(\.seq) == expected)
        var paged: [Int64] = []
        var cursor: (time: Int64, seq: Int64)?
        while true {
            let page = try await h.store.positions(
                agent: "a-1", since: base + 1000, until: nil, after: cursor, limit: 3)
            paged += page.map(\.seq)
            guard let last = page.last else { break }
            cursor = (last.time, last.seq)
        }
        #expect(paged == all.filter { $0.time >= base + 1000 }.map(\.seq))
        #expect(try await h.store.agent(id: "a-1")?.last?.seq == 1)  // the newest fix time, not the highest seq
        #expect(try await h.store.schemaVersion() >= 8)  // migration 8 applied (later ones may follow)
    }

    @Test func badPayloadsAreRejectedCountedAndIngestGoesOnForOthers() async throws {
        let h = try await IngestHarness(agents: ["a-1", "a-2"])
        defer { h.shutdown() }
        let bad: [(String, String, String)] = [
            (Topics.fix(agent: "a-1"), "not json", "not_json"),
            (
                Topics.fix(agent: "a-1"),
                #"{"v":1,"agent":"a-1","seq":"one","time":"2026-11-25T10:00:00Z","lat":1,"lon":2}"#, "invalid_field"
            ),
            (
                Topics.fix(agent: "a-1"), #"{"v":1,"agent":"a-1","time":"2026-11-25T10:00:00Z","lat":1,"lon":2}"#,
                "invalid_field"
            ),
            (
                Topics.fix(agent: "a-1"),
                #"{"v":1,"agent":"a-2","seq":1,"time":"2026-11-25T10:00:00Z","lat":1,"lon":2}"#, "agent_mismatch"
            ),
            (
                Topics.fix(agent: "a-1"),
                #"{"v":1,"agent":"a-1","seq":1,"time":"2026-11-25T10:00:00Z","lat":91,"lon":2}"#, "invalid_field"
            ),
            (
                Topics.fix(agent: "a-1"),
                #"{"v":2,"agent":"a-1","seq":1,"time":"2026-11-25T10:00:00Z","lat":1,"lon":2}"#, "unsupported_version"
            ),
            (
                Topics.fix(agent: "ghost"),
                #"{"v":1,"agent":"ghost","seq":1,"time":"2026-11-25T10:00:00Z","lat":1,"lon":2}"#, "unknown_agent"
            ),
            (Topics.fix(agent: "a-1"), String(repeating: " ", count: 300_000), "too_large"),
            (
                Topics.events(agent: "a-1"),
                #"{"v":1,"agent":"a-1","seq":5,"time":"yesterday","order":"o","type":"accepted"}"#, "invalid_field"
            ),
            // Only shift events may leave the order empty.
            (
                Topics.events(agent: "a-1"),
                #"{"v":1,"agent":"a-1","seq":6,"time":"2026-11-25T10:00:00Z","order":"","type":"accepted"}"#,
                "invalid_field"
            ),
        ]
        for (topic, payload, _) in bad { try await h.publish(topic, payload) }
        try await h.publish(Topics.fix(agent: "a-2"), bytes: PayloadCoding.encode(IngestHarness.fix("a-2", 1)))
        #expect(await eventually { h.ackedSeqs("a-2") == [1] })
        for reason in Set(bad.map(\.2)) {
            let expected = Double(bad.filter { $0.2 == reason }.count)
            #expect(h.metric("dabba_ingest_rejected_total", reason: reason) == expected, "\(reason)")
        }
        #expect(try await h.store.positionCount(agent: "a-1") == 0)
        #expect(h.ackedSeqs("a-1").isEmpty)
    }

    @Test func eventsAndStateAreStored() async throws {
        let h = try await IngestHarness()
        defer { h.shutdown() }
        let event = AgentEvent(agent: "a-1", seq: 7, time: "2026-11-25T10:00:00.000Z", order: "o-1", type: .accepted)
        try await h.publish(Topics.events(agent: "a-1"), bytes: event.jsonBytes())
        try await h.publish(
            Topics.state(agent: "a-1"),
            bytes: AgentState(agent: "a-1", online: true, gps: "fix", outboxDepth: 42).jsonBytes())
        #expect(await eventually { h.ackedSeqs("a-1") == [7] })
        #expect(await eventually { (try? await h.store.agent(id: "a-1"))??.state?.outboxDepth == 42 })
        #expect(await eventually { h.metric("dabba_agents_online") == 1 })
    }

    @Test func agentsOnlineGaugeFollowsStatesAndWills() async throws {
        let h = try await IngestHarness(agents: ["a-1", "a-2"])
        defer { h.shutdown() }
        for agent in ["a-1", "a-2"] {
            try await h.publish(Topics.state(agent: agent), bytes: AgentState(agent: agent, online: true).jsonBytes())
        }
        #expect(await eventually { h.metric("dabba_agents_online") == 2 }, "\(h.metrics.render())")
        // The Last Will of a-1 (online false) takes it off the gauge.
        try await h.publish(Topics.state(agent: "a-1"), bytes: AgentState(agent: "a-1", online: false).jsonBytes())
        #expect(await eventually { h.metric("dabba_agents_online") == 1 }, "\(h.metrics.render())")
    }

    @Test func owntracksLocationsMapToAnAgentAndDedupeOnTst() async throws {
        let h = try await IngestHarness(overrides: ["owntracks-map": "ravi/phone=a-1"])
        defer { h.shutdown() }
        let location = #"{"_type":"location","lat":22.31,"lon":87.31,"tst":1795082400,"acc":12,"vel":36}"#
        try await h.publish("owntracks/ravi/phone", location)
        try await h.publish("owntracks/ravi/phone", location)
        try await h.publish("owntracks/someone/else", location)
        // A sentinel: a later location (a minute on), read after the three above and committed after the first two
        // (commits go in order), so by the time it is stored the duplicate was handled and the unmapped one counted.
        try await h.publish("owntracks/ravi/phone", location.replacingOccurrences(of: "1795082400", with: "1795082460"))
        #expect(await eventually { (try? await h.store.positionCount(agent: "a-1")) == 2 })
        let stored = try await h.store.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 10)
        #expect(stored.map(\.time) == [1_795_082_400_000, 1_795_082_460_000], "the duplicate is stored once")
        #expect(stored.first?.speed == 10)
        #expect(h.metric("dabba_ingest_rejected_total", reason: "unmapped_owntracks") == 1)
    }
}

@Suite struct PositionPrunerTests {
    @Test func oldPositionsGoExceptEachAgentsNewest() async throws {
        let directory = try TestDirectory("prune")
        defer { directory.remove() }
        let store = try SQLiteHubStore(path: directory.path("hub.db"), logger: Logger(label: "t"))
        defer { store.close() }
        _ = try await store.createAgent(id: "a-1", name: nil)
        _ = try await store.createAgent(id: "a-2", name: nil)
        let day: Int64 = 86_400_000
        let now: Int64 = 1_795_082_400_000
        var rows: [StoredPosition] = []
        for i in Int64(1)...120 {
            rows.append(StoredPosition(agent: "a-1", seq: i, time: now - (121 - i) * day / 2, lat: 1, lon: 2))
        }
        rows.append(StoredPosition(agent: "a-2", seq: 1, time: now - 90 * day, lat: 1, lon: 2))  // old, but its newest
        _ = try await store.store(positions: rows, events: [])
        let pruner = PositionPruner(store: store, retentionDays: 30, chunk: 7, logger: Logger(label: "t"))
        let removed = await pruner.pruneOnce(now: now)
        // a-1: fixes every half day over 60 days; those older than 30 days go.
        let kept = try await store.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 1000)
        #expect(kept.allSatisfy { $0.time >= now - 30 * day })
        #expect(kept.count == 60)  // i = 61…120: at most 30 days old
        #expect(removed == 60)
        #expect(try await store.positionCount(agent: "a-2") == 1)
    }
}
