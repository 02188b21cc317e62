import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubModel
import HubPostgres
import Logging
import Testing

/// Three real hubs in one ingest group on PostgreSQL and one mosquitto; one is SIGKILLed while an agent's fixes
/// stream in. Every fix acked before the kill is stored; the agent sends again what was not acked (as `dabba-agent`
/// does after its ack timeout), the surviving hubs ack it, and every fix ends up stored exactly once.
@Suite(.serialized) struct HubKilledMidIngestTests {
    static let fixes: Int64 = 200

    static func fix(_ seq: Int64, start: Int64) -> MQTTMessage {
        let fix = Fix(
            agent: "a-1", seq: seq, time: Timestamp.format(milliseconds: start + seq * 1000), lat: 12.97,
            lon: 77.6 + Double(seq) * 1e-5, mode: 3)
        return MQTTMessage(topic: Topics.fix(agent: "a-1"), payload: fix.jsonBytes(), qos: .atLeastOnce)
    }

    /// Every seq the device has been acked so far.
    static func acked(_ device: TestSubscriber) -> Set<Int64> { IngestHarness.ackedSeqs("a-1", in: device.messages) }

    @Test func everyAckedFixIsStoredOnceWhenAHubIsKilledMidIngest() async throws {
        try await PostgresServer.with { server in
            let fixture = try await IngestCluster.start(on: server, hubs: 3, label: "hub-mid-ingest")
            defer { fixture.stop() }
            let (store, cluster, device) = (fixture.store, fixture.cluster, fixture.device)
            let start = wallClockMilliseconds() - 600_000

            // The first half: every hub ingests (the broker shares the messages out), and acks.
            for seq in 1...Self.fixes / 2 { try await device.client.publishAndWait(Self.fix(seq, start: start)) }
            #expect(await eventually { Self.acked(device).count >= Int(Self.fixes) / 4 }, "\(cluster.diagnostics())")
            // The second half streams while hub 0 is killed once some of it is acked.
            let streaming = Task {
                for seq in Self.fixes / 2 + 1...Self.fixes {
                    try await device.client.publishAndWait(Self.fix(seq, start: start))
                }
            }
            let killedWhileAcking = await cluster.hubs[0].kill9(
                when: { Self.acked(device).contains { $0 > Self.fixes / 2 } }, interval: .milliseconds(10),
                timeout: TestDeadline.generous)
            #expect(killedWhileAcking)
            try await streaming.value
            // What was acked by then (by any hub) is stored.
            let ackedAtKill = Self.acked(device)
            let stored = try await store.positions(
                agent: "a-1", since: nil, until: nil, after: nil, limit: Int(Self.fixes) * 2)
            #expect(Set(stored.map(\.seq)).isSuperset(of: ackedAtKill))

            // The agent sends what is still not acked until everything is (its ack timeout, shortened).
            let complete = await IngestHarness.publishUntilAcked(
                1...Self.fixes, by: device, agent: "a-1", timeout: TestDeadline.generous * 2
            ) { Self.fix($0, start: start) }
            #expect(complete, "\(cluster.diagnostics())")
            // Each stored once, none as a conflict.
            #expect(try await store.positionCount(agent: "a-1") == Int(Self.fixes))
            #expect(try await store.seqConflicts(agent: "a-1", after: nil, limit: 10).isEmpty)
        }
    }
}
