import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import Logging
import Testing

@testable import DabbaAgent

/// Tasks survive disconnects: the reconcile rules alone, then the engine asking a real broker and applying answers.
@Suite(.serialized) struct AgentTaskSyncTests {
    static func task(_ order: String, _ type: TaskMessage.Kind, agent: String = "a-1") -> TaskMessage {
        TaskMessage(agent: agent, order: order, type: type, dropoff: .init(address: "Hall 4"), currency: "INR")
    }

    @Test func listedTasksApplyByTheTaskRulesAndUnlistedOpenTasksAreWithdrawn() {
        let open = ["offered", "assigned", "accepted", "picked_up"].enumerated().map {
            OpenTask(order: "o-\($0.offset)", status: $0.element)
        }
        // Nothing listed, nothing touched: every open task was withdrawn while the device was away.
        #expect(AgentEngine.syncPlan(listed: [], current: [:], open: open, touched: []).withdrawn == open)

        let listed = [
            Self.task("o-1", .assigned),  // still assigned: stays (re-saved, same status)
            Self.task("o-3", .assigned),  // picked up on the device: the hub's assignment does not take it back
            Self.task("o-8", .assigned),  // assigned while away: new on the device
            Self.task("o-9", .offer),  // offered again after the device had it cancelled: applies
        ]
        let plan = AgentEngine.syncPlan(
            listed: listed, current: ["o-1": "assigned", "o-3": "picked_up", "o-9": "cancelled"], open: open,
            touched: [])
        #expect(plan.saves.map(\.task.order) == ["o-1", "o-8", "o-9"])
        #expect(plan.saves.map(\.status) == ["assigned", "assigned", "offered"])
        #expect(plan.withdrawn == [open[0], open[2]])  // o-0 offered and o-2 accepted are not the agent's any more
        #expect(plan.kept.isEmpty)
    }

    @Test func tasksChangedAfterTheRequestKeepTheDevicesNewerState() {
        let open = [OpenTask(order: "o-1", status: "assigned"), OpenTask(order: "o-5", status: "offered")]
        // o-5's offer and o-7's cancellation reached the device after the request was sent; the answer was read
        // before them: it neither withdraws o-5 nor revives o-7.
        let plan = AgentEngine.syncPlan(
            listed: [Self.task("o-1", .assigned), Self.task("o-7", .assigned)],
            current: ["o-1": "assigned", "o-7": "cancelled"], open: open, touched: ["o-5", "o-7"])
        #expect(plan.saves.map(\.task.order) == ["o-1"])
        #expect(plan.withdrawn.isEmpty)
        #expect(Set(plan.kept) == ["o-5", "o-7"])
    }

    @Test func answersAreValidatedAndBounded() throws {
        func parse(_ json: String) throws(PayloadError) -> TaskSyncAnswer {
            try TaskSyncAnswer.parse(Array(json.utf8), agent: "a-1")
        }
        let good =
            #"{"v":1,"agent":"a-1","type":"sync","id":"abc","tasks":[{"v":1,"agent":"a-1","order":"o-1","type":"offer"}]}"#
        #expect(try parse(good).tasks.map(\.order) == ["o-1"])
        #expect(TaskSync.isAnswer(Array(good.utf8)))
        #expect(!TaskSync.isAnswer(Array(#"{"v":1,"agent":"a-1","order":"o-1","type":"offer"}"#.utf8)))
        #expect(!TaskSync.isAnswer(Array("not json".utf8)))
        let bad = [
            #"{"v":2,"agent":"a-1","type":"sync","id":"abc","tasks":[]}"#,
            #"{"v":1,"agent":"a-2","type":"sync","id":"abc","tasks":[]}"#,
            #"{"v":1,"agent":"a-1","type":"sync","id":"a b","tasks":[]}"#,
            #"{"v":1,"agent":"a-1","type":"sync","id":"","tasks":[]}"#,
            #"{"v":1,"agent":"a-1","type":"sync","id":"abc"}"#,
            #"{"v":1,"agent":"a-1","type":"sync","id":"abc","tasks":[{"v":1,"agent":"a-2","order":"o-1","type":"offer"}]}"#,
            #"{"v":1,"agent":"a-1","type":"sync","id":"abc","tasks":[{"v":1,"agent":"a-1","order":"","type":"offer"}]}"#,
            #"{"v":1,"agent":"a-1","type":"sync","id":"abc","tasks":[{"v":1,"agent":"a-1","order":"o-1","type":"cancelled"}]}"#,
            #"{"v":1,"agent":"a-1","type":"sync","id":"abc","tasks":[{"v":1,"agent":"a-1","order":"o-1","type":"offer"},{"v":1,"agent":"a-1","order":"o-1","type":"assigned"}]}"#,
            #"{"v":1,"agent":"a-1","type":"sync","id":"abc","tasks":[{"v":1,"agent":"a-1","order":"o-1","type":"offer","cashToCollect":1e30}]}"#,
        ]
        for json in bad {
            #expect(throws: PayloadError.self, "\(json)") { try parse(json) }
        }
        let many = TaskSyncAnswer(
            agent: "a-1", id: "abc", tasks: (0...TaskSync.maxTasks).map { Self.task("o-\($0)", .assigned) })
        #expect(throws: PayloadError(.tooLarge, "\(TaskSync.maxTasks + 1) tasks")) {
            try TaskSyncAnswer.parse(PayloadCoding.encode(many), agent: "a-1")
        }
        let ids = Set((0..<100).map { _ in TaskSync.makeID() })
        #expect(ids.count == 100 && ids.allSatisfy { $0.count == 32 && TaskSync.isValidID($0) })
    }
}
