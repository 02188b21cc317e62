import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubModel
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// `GET /v1/agents/{id}/tasks`, the rider's web view: the shift and the tasks a device's task sync would list, each
/// with its order's status, through offer, accept and pickup; only the agent itself and operators read it.
@Suite struct AgentTasksTests {
    @Test func theRiderSeesTheShiftAndEachTaskThroughOfferAcceptAndPickup() async throws {
        let h = try HubHarness(["dispatch-policy": "nearest"])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (ravi, _) = try await client.login(f.agentUser.email)
            @Sendable func tasks() async throws -> JSONObject {
                let answer = try await client.send(.get, "/v1/agents/a-1/tasks", token: ravi)
                guard answer.status == .ok, let json = answer.json else {
                    throw TestSupportError("tasks: \(answer.status) \(answer.text)")
                }
                return json
            }
            var view = try await tasks()
            #expect(view["agent"] as? String == "a-1" && view["onShift"] as? Bool == false, "\(view)")
            #expect((view["tasks"] as? [Any])?.isEmpty == true)

            // Available near the restaurant, on shift from the rider's own account: the confirmed order is offered.
            try await DispatchTests.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051, onShift: false)
            let id = try await DispatchTests.confirmedOrder(client, f)
            let shift = try await client.send(.post, "/v1/agents/a-1/shift", token: ravi, json: #"{"action":"start"}"#)
            #expect(shift.status == .ok, "\(shift.text)")
            view = try await tasks()
            #expect(view["onShift"] as? Bool == true)
            var list = try #require(view["tasks"] as? [JSONObject])
            #expect(list.count == 1, "\(view)")
            let offered = try #require(list.first)
            #expect(offered["order"] as? String == id && offered["type"] as? String == "offer", "\(offered)")
            #expect(offered["status"] as? String == "confirmed")
            #expect((offered["pickup"] as? JSONObject)?["name"] as? String == f.restaurant.name, "\(offered)")
            #expect((offered["dropoff"] as? JSONObject)?["lat"] is NSNumber)
            let deadline = try #require((offered["expiresAt"] as? String).flatMap(Timestamp.parse))
            #expect(deadline > wallClockMilliseconds())
            // The same tasks the device's sync is answered with.
            let synced = try #require(try await IngestService.syncTasks(agent: "a-1", store: h.store))
            #expect(synced.map(\.order) == [id] && synced.first?.type == .offer)

            // Accepted, then picked up: one task, assigned, with the order's status.
            #expect(try await DispatchTests.decide(client, f.agentUser.email, id, "accept").status == .ok)
            list = try #require(try await tasks()["tasks"] as? [JSONObject])
            #expect(list.map { $0["type"] as? String } == ["assigned"], "\(list)")
            #expect(list.first?["status"] as? String == "assigned" && list.first?["expiresAt"] == nil)
            #expect(try await client.act("pickup", id, ravi).status == .ok)
            list = try #require(try await tasks()["tasks"] as? [JSONObject])
            #expect(list.first?["status"] as? String == "picked_up", "\(list)")

            // Someone else's tasks: another agent sees no such agent, a customer may not ask, an operator may.
            let (sita, _) = try await client.login(f.otherAgentUser.email)
            #expect(try await client.send(.get, "/v1/agents/a-1/tasks", token: sita).status == .notFound)
            let (customer, _) = try await client.login(f.customerA.email)
            #expect(try await client.send(.get, "/v1/agents/a-1/tasks", token: customer).status == .forbidden)
            let (op, _) = try await client.login(f.operatorUser.email)
            let asOperator = try await client.send(.get, "/v1/agents/a-1/tasks", token: op)
            #expect(asOperator.status == .ok && (asOperator.json?["tasks"] as? [Any])?.count == 1)
            #expect(try await client.send(.get, "/v1/agents/nobody/tasks", token: op).status == .notFound)
        }
    }
}
