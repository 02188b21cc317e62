import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import Logging
import Testing

@testable import DabbaAgent

/// The engine in-process against a real mosquitto: it asks for its tasks on every connect and applies only the
/// answer to its latest request.
@Suite(.serialized) struct AgentTaskSyncEngineTests {
    @Test func reconnectSyncWithdrawsWhatTheHubNoLongerListsAndKeepsNewerChanges() async throws {
        let directory = try TestDirectory("engine-sync")
        defer { directory.remove() }
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let requests = try await TestSubscriber.start(port: broker.port, filter: Topics.sync(agent: "a-1"))
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let c = try AgentConfiguration(
            LayeredConfiguration(
                keys: AgentConfiguration.keys, file: nil, environment: [:],
                flags: ["agent-id": "a-1", "mqtt-port": "\(broker.port)", "outbox": directory.path("o.db")]))
        let outbox = try Outbox(path: c.outboxPath, logger: logger)
        let mqtt = MQTTClient(configuration: MQTTConfiguration(port: broker.port, clientID: "engine"), logger: logger)
        mqtt.subscribe(Topics.tasks(agent: "a-1"), qos: .atLeastOnce)
        let engine = AgentEngine(configuration: c, outbox: outbox, mqtt: mqtt, logger: logger)
        func message(_ payload: [UInt8]) -> MQTTEvent {
            .message(MQTTMessage(topic: Topics.tasks(agent: "a-1"), payload: payload, qos: .atLeastOnce))
        }
        func task(_ order: String, _ type: TaskMessage.Kind) -> [UInt8] {
            PayloadCoding.encode(AgentTaskSyncTests.task(order, type))
        }
        func statuses() async throws -> [String: String] {
            Dictionary(uniqueKeysWithValues: try await engine.listTasks().map { ($0.task.order, $0.status) })
        }

        // What the device held before it went away (delivered by the hub at the time, acted on by the agent).
        for order in ["o-1", "o-2", "o-3", "o-4", "o-6", "o-7"] { await engine.handle(message(task(order, .assigned))) }
        _ = try await engine.act(.accepted, order: "o-3")
        _ = try await engine.act(.pickedUp, order: "o-4")
        _ = try await engine.act(.pickedUp, order: "o-6")
        _ = try await engine.act(.delivered, order: "o-6")
        let before = try await statuses()
        #expect(before["o-3"] == "accepted" && before["o-4"] == "picked_up" && before["o-6"] == "delivered")

        let run = Task { try? await mqtt.run() }
        let forward = Task { await engine.consume(mqtt.events) }
        defer {
            mqtt.shutdown()
            forward.cancel()
            run.cancel()
        }
        // Connected: a request; unanswered and retried: another one, with a new id.
        let first = try #require(await requests.waitFor(count: 1).first)
        let r1 = try PayloadCoding.decode(TaskSyncRequest.self, from: first.payload)
        #expect(r1.v == 1 && r1.agent == "a-1" && TaskSync.isValidID(r1.id))
        await engine.retryTaskSync(now: .max)
        let r2 = try PayloadCoding.decode(
            TaskSyncRequest.self, from: try #require(await requests.waitFor(count: 2).last).payload)
        #expect(r2.id != r1.id)

        // After the request: a new offer (o-5) and a cancellation (o-7) reach the device before the answer.
        let hub = requests.client
        func publish(_ payload: [UInt8]) async throws {
            try await hub.publishAndWait(
                MQTTMessage(topic: Topics.tasks(agent: "a-1"), payload: payload, qos: .atLeastOnce))
        }
        func answer(_ id: String, _ orders: [String]) -> [UInt8] {
            PayloadCoding.encode(
                TaskSyncAnswer(agent: "a-1", id: id, tasks: orders.map { AgentTaskSyncTests.task($0, .assigned) }))
        }
        try await publish(task("o-5", .offer))
        try await publish(task("o-7", .cancelled))
        // An answer to the older request would withdraw everything: ignored. A malformed one is counted.
        try await publish(answer(r1.id, []))
        try await publish(Array(#"{"v":1,"agent":"a-1","type":"sync","id":"x"}"#.utf8))
        #expect(await eventually { await engine.status().counters.tasksMalformed == 1 })
        let unanswered = try await statuses()
        #expect(unanswered["o-2"] == "assigned" && unanswered["o-5"] == "offered" && unanswered["o-7"] == "cancelled")

        // The answer to the latest request: read by the hub before o-5 was offered and o-7 cancelled.
        try await publish(answer(r2.id, ["o-1", "o-4", "o-7", "o-8"]))
        #expect(try await eventually { try await statuses()["o-2"] == "cancelled" })
        #expect(
            try await statuses() == [
                "o-1": "assigned",  // still the agent's
                "o-2": "cancelled",  // cancelled while away
                "o-3": "cancelled",  // accepted offline, but the offer lapsed while away
                "o-4": "picked_up",  // the hub's assignment does not take the pickup back
                "o-5": "offered",  // offered after the request: kept
                "o-6": "delivered",  // finished: left alone
                "o-7": "cancelled",  // cancelled after the request: the older listing does not revive it
                "o-8": "assigned",  // assigned while away
            ])

        // Answered: a second copy (another hub without an ingest group) changes nothing.
        try await publish(answer(r2.id, []))
        try await publish(Array("not json".utf8))
        #expect(await eventually { await engine.status().counters.tasksMalformed == 2 })
        #expect(try await statuses()["o-1"] == "assigned")
        await requests.stop()
    }
}
