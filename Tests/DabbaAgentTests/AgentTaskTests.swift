import DabbaAgent
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import Testing

/// Tasks from the hub, actions from the device: each action is committed with a seq and sent on `…/events`.
@Suite(.serialized) struct AgentTaskTests {
    @Test func offerAcceptPickupDeliverOverTheControlSocket() async throws {
        let h = try await AgentHarness(points: 5)
        defer { h.shutdown() }
        try h.agent.start()
        try await h.startGPS()
        #expect(await eventually(timeout: AgentHarness.gpsDeadline) { h.received.count >= 5 }, "\(h.diagnostics())")
        let events = try await TestSubscriber.start(port: h.broker.port, filter: Topics.events(agent: "a-1"))
        let task =
            #"{"v":1,"agent":"a-1","order":"o-9","type":"assigned","pickup":{"name":"Dosa Corner"},"dropoff":{"address":"Hall 4"},"cashToCollect":25000,"currency":"INR"}"#
        try await events.client.publishAndWait(
            MQTTMessage(topic: Topics.tasks(agent: "a-1"), payload: Array(task.utf8), qos: .atLeastOnce))
        let cli = ["--config", "/dev/null", "--control-socket", h.agent.controlSocket]
        #expect(await eventually { ((try? AgentProcess.runCLI(["tasks"] + cli))?.1 ?? "").contains("o-9  assigned") })

        // Not allowed yet: delivering before pickup (5); unknown order (4).
        #expect(try await AgentProcess.runCLI(["deliver", "o-9"] + cli).0 == 5)
        #expect(try await AgentProcess.runCLI(["accept", "o-404"] + cli).0 == 4)

        for command in [["accept", "o-9"], ["pickup", "o-9"]] {
            let (status, output) = try await AgentProcess.runCLI(command + cli)
            #expect(status == 0, "\(command): \(output)")
        }
        // The assignment redelivered after the pickup (QoS 1 after a reconnect) does not take the task back.
        try await events.client.publishAndWait(
            MQTTMessage(topic: Topics.tasks(agent: "a-1"), payload: Array(task.utf8), qos: .atLeastOnce))
        let marker = task.replacingOccurrences(of: "o-9", with: "o-10")
        try await events.client.publishAndWait(
            MQTTMessage(topic: Topics.tasks(agent: "a-1"), payload: Array(marker.utf8), qos: .atLeastOnce))
        #expect(await eventually { ((try? AgentProcess.runCLI(["tasks"] + cli))?.1 ?? "").contains("o-10  assigned") })
        #expect(try await AgentProcess.runCLI(["tasks"] + cli).1.contains("o-9  picked_up"))
        let (status, output) = try await AgentProcess.runCLI(["deliver", "o-9", "--cash-collected", "25000"] + cli)
        #expect(status == 0, "deliver: \(output)")
        #expect(try await AgentProcess.runCLI(["tasks"] + cli).1.contains("o-9  delivered"))

        let messages = await events.waitFor(count: 3)
        let decoded = try messages.map { try PayloadCoding.decode(AgentEvent.self, from: $0.payload) }
        #expect(decoded.map(\.type) == [.accepted, .pickedUp, .delivered])
        #expect(decoded.map(\.order) == ["o-9", "o-9", "o-9"])
        #expect(decoded.last?.cashCollected == 25000)
        // Events share the fixes' seq space: strictly increasing, above the fixes recorded before.
        let seqs = decoded.map(\.seq)
        #expect(seqs == seqs.sorted() && seqs[0] > 5)
        // And the acker (the hub's stand-in) got and acked them like fixes.
        #expect(await eventually { Set(seqs).isSubset(of: h.received) })
        #expect(await h.waitForEmptyOutbox(), "\(h.diagnostics())")
        await events.stop()
    }

    @Test func lastWillSaysOfflineWhenTheAgentIsKilled() async throws {
        let h = try await AgentHarness(points: 5)
        defer { h.shutdown() }
        let state = try await TestSubscriber.start(port: h.broker.port, filter: Topics.state(agent: "a-1"))
        try h.agent.start()
        try await h.startGPS()
        #expect(
            await eventually {
                state.messages.contains {
                    (try? PayloadCoding.decode(AgentState.self, from: $0.payload))?.online == true
                }
            })
        h.agent.kill9()
        #expect(
            await eventually {
                guard let last = state.messages.last else { return false }
                return (try? PayloadCoding.decode(AgentState.self, from: last.payload))?.online == false
            }, "\(state.messages.map(\.payloadString))")
        await state.stop()
    }
}
