import DabbaAgent
import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Testing

@testable import DabbaHub

/// The hub's dispatch and the real `dabba-agent` over real mosquitto: the hub offers an order on the agent's tasks
/// topic, the agent's CLI shows it and accepts, picks up and delivers it (cash on delivery), and the daemon is
/// SIGKILLed and restarted after every action. The customer's WebSocket feed sees every step, each action is
/// applied exactly once, and the cash shows in that day's reconciliation.
@Suite(.serialized) struct DeviceDispatchEndToEndTests {
    @Test func offeredAcceptedPickedUpAndDeliveredFromTheDeviceThroughKills() async throws {
        let directory = try TestDirectory("device-dispatch")
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        // Rounds run when an order is confirmed or a device event arrives (no periodic round); offers stay open.
        let h = try HubHarness(
            [
                "mqtt-port": "\(broker.port)", "commit-interval-ms": "10", "dispatch-policy": "nearest",
                "dispatch-interval": "3600", "offer-timeout": "600", "payment-poll-interval": "0.05",
            ], directory: directory)
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        let hub = try await HubComponents.make(
            configuration: h.configuration, store: h.store, logger: h.logger, bcryptCost: 4)
        let app = buildApplication(hub: hub, logger: h.logger)
        // No gpsd for this agent: its position is given to the hub below; this test is about tasks and actions.
        let agent = AgentProcess(
            agentID: "a-1", directory: directory, mqttPort: broker.port, gpsdPort: FreePort.next(),
            extraArguments: ["--ack-timeout", "2"])
        defer { agent.stop() }
        let cli = ["--config", "/dev/null", "--control-socket", agent.controlSocket]
        @Sendable func tasks() async -> String { (try? await AgentProcess.runCLI(["tasks"] + cli))?.1 ?? "" }
        @Sendable func restart() async throws {
            agent.kill9()
            try agent.start()
            let up = await eventually { (try? await agent.status())?.0 ?? 3 != 3 }
            guard up else { throw TestSupportError("agent did not come back: \(agent.output().suffix(2000))") }
        }
        @Sendable func orderStatus(_ id: String) async -> OrderStatus? { try? await h.store.order(id: id)?.status }

        try await app.test(.live) { client in
            #expect(await eventually { hub.mqtt.isSubscribed })
            try agent.start()
            // Available: online by its own retained state, with a fresh fix near the restaurant, and on shift from
            // the device (`dabba-agent shift start`, an event like the task actions).
            #expect(
                await eventually {
                    (try? await h.store.agent(id: "a-1"))??.state?.online == true
                },
                "\(agent.output().suffix(2000))")
            _ = try await h.store.store(
                positions: [
                    StoredPosition(
                        agent: "a-1", seq: 1_000_000, time: wallClockMilliseconds(), lat: 12.9751, lon: 77.6051)
                ],
                events: [])
            @Sendable func onShift() async -> Bool? {
                try? await h.store.dispatchAgents().first { $0.agent.id == "a-1" }?.onShift
            }
            #expect(await onShift() == false)
            let started = try await AgentProcess.runCLI(["shift", "start"] + cli)
            #expect(started.0 == 0 && started.1.contains("a-1: shift_started"), "\(started.1)")
            #expect(await eventually { await onShift() == true })

            let (customer, _) = try await client.login(f.customerA.email)
            let (owner, _) = try await client.login(f.owner.email)
            let (op, _) = try await client.login(f.operatorUser.email)
            let id = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "cod"))
            let total = try #require(try await h.store.order(id: id)).total

            let frames = FrameLog()
            let ticket = try hub.auth.issueTicket(for: Identity(userID: f.customerA.id, role: .customer))
            try await client.ws("/v1/orders/\(id)/live?ticket=\(ticket)") { inbound, outbound, _ in
                let device = Task {
                    #expect(await eventually { frames.withLock { $0.count } >= 1 })
                    // The restaurant confirms: that runs a dispatch round, which offers the order to a-1's device.
                    #expect(try await client.act("accept", id, owner, #"{"prepMinutes":10}"#).status == .ok)
                    #expect(await eventually { await tasks().contains("\(id)  offered") })
                    let offered = await tasks()
                    #expect(
                        offered.contains("\(id)  offered") && offered.contains("collect \(total) INR"), "\(offered)")
                    // Killed before answering: the offer is still on the device after the restart.
                    try await restart()
                    let afterRestart = await tasks()
                    #expect(afterRestart.contains("\(id)  offered"), "\(afterRestart)")

                    for (action, extra, expected) in [
                        ("accept", [String](), OrderStatus.assigned), ("pickup", [], .pickedUp),
                        ("deliver", ["--cash-collected", "\(total)"], .delivered),
                    ] {
                        let (status, output) = try await AgentProcess.runCLI([action, id] + extra + cli)
                        #expect(status == 0, "\(action): \(output)")
                        // Killed right after the action was committed to its outbox, maybe before it was sent.
                        try await restart()
                        let reached = await eventually { await orderStatus(id) == expected }
                        let now = await orderStatus(id)
                        #expect(
                            reached, "\(action): order is \(String(describing: now))\n\(agent.output().suffix(3000))")
                    }
                    let delivered = await tasks()
                    #expect(delivered.contains("\(id)  delivered"), "\(delivered)")
                }
                _ = try await frames.read(
                    inbound, closing: outbound, until: #""status":"delivered""#, timeout: .seconds(150))
                try await device.value
                try? await outbound.close(.normalClosure, reason: nil)
            }

            // The customer saw every step, once each, in order.
            let statuses = frames.withLock { $0 }
                .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? JSONObject }
                .filter { $0["type"] as? String == "status" }.compactMap { $0["status"] as? String }
            #expect(statuses == ["confirmed", "assigned", "picked_up", "delivered"], "\(statuses)")

            // Every device action arrived (the outbox empties) and was applied exactly once, whatever was resent.
            #expect(
                await eventually {
                    guard let (_, out) = try? await agent.status(), let line = out.split(separator: "\n").last else {
                        return false
                    }
                    return (try? PayloadCoding.decode(ControlResponse.self, from: Array(line.utf8)))?.status?
                        .outboxDepth == 0
                }, "\(agent.output().suffix(2000))")
            let actions = try await h.store.orderEvents(order: id).compactMap(\.action)
            #expect(actions == [.accept, .assign, .pickup, .deliver], "\(actions)")
            let trail = try await h.store.orderEvents(order: id)
            #expect(trail.last?.cashCollected == total && trail.last?.actor == "agent:a-1", "\(trail)")
            #expect(try await h.store.unappliedEvents(limit: 10).isEmpty)
            let metrics = hub.metrics.render()
            // shift_started, accepted, picked_up, delivered.
            #expect(metrics.contains(#"dabba_device_events_total{result="applied"} 4"#), "\(metrics)")
            #expect(
                !metrics.contains(#"dabba_device_events_total{result="ignored"} "#)
                    || metrics.contains(#"dabba_device_events_total{result="ignored"} 0"#))
            let offers = try await h.store.offers(order: id).map(\.state)
            #expect(offers == [.accepted], "\(offers)")
            // The shift ends from the device too.
            #expect(try await AgentProcess.runCLI(["shift", "end"] + cli).0 == 0)
            #expect(await eventually { await onShift() == false })

            // The cash the device reported is in that day's reconciliation.
            let today = String(Timestamp.format(milliseconds: wallClockMilliseconds()).prefix(10))
            var row: JSONObject?
            let shown = await eventually {
                let r = try? await client.send(.get, "/v1/ledger/reconciliation?date=\(today)&agent=a-1", token: op)
                row = (r?.json?["agents"] as? [JSONObject])?.first { $0["agent"] as? String == "a-1" }
                return row?["collected"] as? Int == Int(total)
            }
            #expect(shown, "\(String(describing: row))")
            #expect(
                row?["expected"] as? Int == Int(total) && row?["collectionDifference"] as? Int == 0,
                "\(String(describing: row))")
            #expect(row?["orders"] as? Int == 1 && row?["heldNow"] as? Int == Int(total))
            // Still held by the agent: flagged until the operator records the hand-in.
            #expect(row?["handInDifference"] as? Int == -Int(total) && row?["flagged"] as? Bool == true)
            let handIn = try await client.send(
                .post, "/v1/ledger/cash-handins", token: op,
                json: #"{"agent":"a-1","amount":\#(total),"currency":"INR"}"#,
                headers: PaymentHTTPTests.key("device-e2e"))
            #expect(handIn.status == .created, "\(handIn.text)")
            let settled = try await client.send(.get, "/v1/ledger/reconciliation?date=\(today)&agent=a-1", token: op)
            let final = (settled.json?["agents"] as? [JSONObject])?.first
            #expect(final?["handedIn"] as? Int == Int(total) && final?["heldNow"] as? Int == 0)
            #expect(final?["flagged"] as? Bool == false, "\(settled.text)")
        }
    }
}
