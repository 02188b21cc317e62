import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubModel
import Testing

@testable import DabbaHub

/// The hub's side of the task sync: a device's request on `…/sync` is answered on its `…/tasks` topic with every
/// order offered or assigned to it, read from the store; bad requests are counted and never answered.
@Suite(.serialized) struct TaskSyncTests {
    @Test func aSyncRequestIsAnsweredWithTheAgentsOffersAndAssignments() async throws {
        let h = try await IngestHarness(agents: ["a-1", "a-2"])
        defer { h.shutdown() }
        let customer = try await h.store.createUser(
            email: "c@example.com", passwordHash: "x", name: "C", role: .customer, agentID: nil
        ).id
        let world = PaymentWorld(store: h.store)
        let assigned = try await world.order("o-assigned", customer: customer, method: .cod)
        try await world.move("o-assigned", [.accept, .assign])
        _ = try await world.order("o-picked", customer: customer, method: .card)
        try await world.move("o-picked", [.accept, .assign, .pickup])
        _ = try await world.order("o-offered", customer: customer, method: .card)
        try await world.move("o-offered", [.accept])
        let deadline = wallClockMilliseconds() + 60_000
        // Offers go only to agents on shift and online.
        for agent in ["a-1", "a-2"] {
            try await h.store.setShift(agent: agent, onShift: true)
            try await h.store.updateState(AgentState(agent: agent, online: true), at: wallClockMilliseconds())
        }
        let limits = AssignmentLimits(capacity: 10, codCashLimit: Money.maxAmount)
        _ = try await h.store.createOffer(
            Offer(order: "o-offered", agent: "a-1", created: wallClockMilliseconds(), deadline: deadline),
            limits: limits)
        // Not a-1's: another agent's, finished, cancelled, and an offer to a-2.
        _ = try await world.order("o-other", customer: customer, method: .card)
        try await world.move("o-other", [.accept, .assign], agent: "a-2")
        _ = try await world.order("o-delivered", customer: customer, method: .card)
        try await world.move("o-delivered", [.accept, .assign, .pickup, .deliver])
        _ = try await world.order("o-cancelled", customer: customer, method: .card)
        try await world.move("o-cancelled", [.accept, .assign, .cancel])
        _ = try await world.order("o-offered-2", customer: customer, method: .card)
        try await world.move("o-offered-2", [.accept])
        _ = try await h.store.createOffer(
            Offer(order: "o-offered-2", agent: "a-2", created: wallClockMilliseconds(), deadline: deadline),
            limits: limits)

        let tasks = try await TestSubscriber.start(port: h.broker.port, filter: Topics.tasks(agent: "a-1"))
        defer { tasks.client.shutdown() }
        // Refused and counted, never answered: another agent's id, not JSON, a bad id, an unprovisioned agent.
        try await h.publish(Topics.sync(agent: "a-1"), #"{"v":1,"agent":"a-2","id":"r-0"}"#)
        try await h.publish(Topics.sync(agent: "a-1"), "not json")
        try await h.publish(Topics.sync(agent: "a-1"), #"{"v":1,"agent":"a-1","id":"has space"}"#)
        try await h.publish(Topics.sync(agent: "a-9"), #"{"v":1,"agent":"a-9","id":"r-0"}"#)
        try await h.publish(Topics.sync(agent: "a-1"), #"{"v":1,"agent":"a-1","id":"r-1"}"#)

        // Requests are handled in order: once r-1 is answered, the bad ones were handled (and not answered).
        let received = await tasks.waitFor(count: 1)
        #expect(received.count == 1, "\(received.map(\.payloadString))")
        let answer = try TaskSyncAnswer.parse(try #require(received.first).payload, agent: "a-1")
        #expect(answer.id == "r-1" && answer.type == "sync")
        #expect(answer.tasks.map(\.order) == ["o-assigned", "o-picked", "o-offered"])
        #expect(answer.tasks.map(\.type) == [.assigned, .assigned, .offer])
        // The same content as the single task messages: drop-off, cash to collect on cash orders, the deadline.
        let built = OrderNotifier.taskMessage(.assigned, agent: "a-1", order: assigned)
        #expect(answer.tasks.first == built)
        #expect(built.cashToCollect == assigned.total && built.dropoff?.address == "1 MG Road")
        #expect(answer.tasks[1].cashToCollect == nil)
        #expect(answer.tasks[2].expiresAt == Timestamp.format(milliseconds: deadline))
        for reason in ["agent_mismatch", "not_json", "invalid_field", "unknown_agent"] {
            #expect(h.metric("dabba_ingest_rejected_total", reason: reason) == 1, "\(reason)")
        }

        // Computed when the request arrives: a cancellation since then shows in the next answer.
        _ = try await h.store.applyOrderChange(
            OrderChange(action: .cancel, actor: "system", reason: "test"), to: "o-assigned")
        try await h.publish(Topics.sync(agent: "a-1"), #"{"v":1,"agent":"a-1","id":"r-2"}"#)
        let second = try TaskSyncAnswer.parse(try #require(await tasks.waitFor(count: 2).last).payload, agent: "a-1")
        #expect(second.id == "r-2" && second.tasks.map(\.order) == ["o-picked", "o-offered"])
    }

    @Test func withAnIngestGroupTheRequestsAreAShareLikeTheLanes() {
        #expect(IngestService.filters(group: nil).contains("dabba/v1/agents/+/sync"))
        #expect(IngestService.filters(group: "hubs").contains("$share/hubs/dabba/v1/agents/+/sync"))
        #expect(IngestService.filters(group: "hubs").allSatisfy { $0.hasPrefix("$share/hubs/") })
    }
}
