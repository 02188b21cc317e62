import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubModel
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Synchronization
import Testing

@testable import DabbaHub

/// Two hubs in one ingest group (`ingest-group=hubs`) on one database and one mosquitto, each serving its own
/// sockets: the broker splits the agent's fixes between them, and the relay makes every fix show on both.
@Suite(.serialized) struct TwoHubsFleetTests {
    static let fixes: Int64 = 40

    @Test func fixesSplitBetweenTwoHubsShowOnBothFleetFeedsAndOnACustomersFeedOnEither() async throws {
        let directory = try TestDirectory("two-hubs")
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let keys = [
            "mqtt-port": "\(broker.port)", "http-port": "0", "commit-interval-ms": "10", "ingest-group": "hubs",
        ]
        let a = try HubHarness(keys, directory: directory)
        defer { a.close() }
        let b = try HubHarness(keys, directory: directory)
        defer { b.store.close() }
        let f = try await OrderFixture.make(a)
        let hubA = try await HubComponents.make(
            configuration: a.configuration, store: a.store, logger: a.logger, bcryptCost: 4)
        let hubB = try await HubComponents.make(
            configuration: b.configuration, store: b.store, logger: b.logger, bcryptCost: 4)
        let publisher = try await TestSubscriber.start(port: broker.port, filter: "unused/#")
        defer { publisher.client.shutdown() }

        try await buildApplication(hub: hubA, logger: a.logger).test(.live) { clientA in
            try await buildApplication(hub: hubB, logger: b.logger).test(.live) { clientB in
                #expect(await eventually { hubA.mqtt.isSubscribed && hubB.mqtt.isSubscribed })
                // An order of customer A on hub A, assigned to a-1: its feed shows a-1's positions.
                let (customer, _) = try await clientA.login(f.customerA.email)
                let (owner, _) = try await clientA.login(f.owner.email)
                let (op, _) = try await clientA.login(f.operatorUser.email)
                let id = try await clientA.placeOrder(customer)
                _ = try await clientA.act("accept", id, owner, #"{"prepMinutes":12}"#)
                try await DispatchTests.onShiftAndOnline(a.store, "a-1")
                let assigned = try await clientA.act("assign", id, op, #"{"agent":"a-1"}"#)
                #expect(assigned.status == .ok, "\(assigned.text)")

                let fleetA = FrameLog()
                let fleetB = FrameLog()
                let order = FrameLog()
                let operatorIdentity = Identity(userID: f.operatorUser.id, role: .operator)
                let customerIdentity = Identity(userID: f.customerA.id, role: .customer)
                // The last fix's time: in the fleet feeds' frames and the order feed's.
                let last = PacedFixes.fix(Self.fixes).time
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (client, hub, frames, path) in [
                        (clientA, hubA, fleetA, "/v1/fleet/live"), (clientB, hubB, fleetB, "/v1/fleet/live"),
                        (clientA, hubA, order, "/v1/orders/\(id)/live"),
                    ] {
                        let identity = path.hasPrefix("/v1/fleet") ? operatorIdentity : customerIdentity
                        let ticket = try hub.auth.issueTicket(for: identity)
                        group.addTask {
                            try await client.ws("\(path)?ticket=\(ticket)") { inbound, outbound, _ in
                                _ = try await frames.read(
                                    inbound, closing: outbound, until: last, timeout: TestDeadline.generous * 2)
                                try await outbound.close(.normalClosure, reason: nil)
                            }
                        }
                    }
                    // The agent's pace: each fix is published once and shows on all three feeds before the next
                    // (a burst would be coalesced, on one hub as on two).
                    group.addTask {
                        // Every feed open (its snapshot received) before the first fix.
                        guard await eventually({ [fleetA, fleetB, order].allSatisfy { $0.count >= 1 } }) else {
                            Issue.record("a feed did not open")
                            return
                        }
                        for seq in Int64(1)...Self.fixes {
                            try await publisher.client.publishAndWait(
                                MQTTMessage(
                                    topic: Topics.fix(agent: "a-1"), payload: PacedFixes.fix(seq).jsonBytes(),
                                    qos: .atLeastOnce))
                            let shown = await eventually {
                                [fleetA, fleetB, order].allSatisfy { PacedFixes.seqs($0).contains(seq) }
                            }
                            #expect(
                                shown,
                                "seq \(seq): A \(PacedFixes.seqs(fleetA)) B \(PacedFixes.seqs(fleetB)) order \(PacedFixes.seqs(order))"
                            )
                            if !shown { return }
                        }
                    }
                    try await group.waitForAll()
                }
                // The broker split the fixes (each hub ingested and committed some, 40 in all, each once) …
                @Sendable func committed(_ hub: HubComponents) -> Double {
                    metricValue(hub.metrics.render(), "dabba_ingest_committed_total") ?? 0
                }
                #expect(await eventually { committed(hubA) + committed(hubB) == Double(Self.fixes) })
                #expect(committed(hubA) > 0 && committed(hubB) > 0, "\(committed(hubA)) + \(committed(hubB))")
                for hub in [hubA, hubB] {
                    #expect(metricValue(hub.metrics.render(), "dabba_relay_received_total") ?? 0 > 0)
                }
                #expect(try await a.store.positionCount(agent: "a-1") == Int(Self.fixes))
                // … and every feed showed every fix once, in order: the customer on hub A saw hub B's too.
                for frames in [fleetA, fleetB, order] {
                    #expect(PacedFixes.seqs(frames) == Array(1...Self.fixes))
                }
            }
        }
    }
}
