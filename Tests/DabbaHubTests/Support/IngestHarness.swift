import DabbaCore
import DabbaHub
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubSQLite
import Logging
import Testing

/// Real mosquitto + the hub's ingest service in-process over a SQLite store in a test directory.
final class IngestHarness: @unchecked Sendable {
    let directory: TestDirectory
    let broker: MosquittoBroker
    let store: SQLiteHubStore
    let metrics = HubMetrics()
    let feed = FleetFeed()
    let mqtt: MQTTClient
    let ingest: IngestService
    let tasks: [Task<Void, Never>]
    let publisher: TestSubscriber
    let acks: TestSubscriber

    init(agents: [String] = ["a-1"], overrides: [String: String] = [:]) async throws {
        directory = try TestDirectory("hub-ingest")
        broker = try await MosquittoBroker.started(directory: directory)
        let logger = Logger(label: "hub", factory: { _ in SwiftLogNoOpLogHandler() })
        store = try SQLiteHubStore(path: directory.path("hub.db"), logger: logger)
        for agent in agents { _ = try await store.createAgent(id: agent, name: nil) }
        var keys = ["mqtt-port": "\(broker.port)", "commit-interval-ms": "20"]
        keys.merge(overrides) { $1 }
        let configuration = try HubConfiguration.make(keys)
        var mqttConfiguration = MQTTConfiguration(port: broker.port, clientID: "hub-\(UUID().uuidString.prefix(6))")
        mqttConfiguration.maxBackoff = .seconds(1)
        mqtt = MQTTClient(configuration: mqttConfiguration, logger: logger)
        ingest = IngestService(
            configuration: configuration, store: store, mqtt: mqtt, feed: feed, metrics: metrics, logger: logger)
        let (mqtt, ingest) = (mqtt, ingest)
        tasks = [Task { try? await mqtt.run() }, Task { try? await ingest.run() }]
        publisher = try await TestSubscriber.start(port: broker.port, filter: "unused/#")
        acks = try await TestSubscriber.start(port: broker.port, filter: "dabba/v1/agents/+/ack")
        guard await eventually({ mqtt.isSubscribed }) else {
            throw TestSupportError("ingest did not subscribe")
        }
    }

    func publish(_ topic: String, _ payload: String) async throws {
        try await publisher.client.publishAndWait(
            MQTTMessage(topic: topic, payload: Array(payload.utf8), qos: .atLeastOnce))
    }

    func publish(_ topic: String, bytes: [UInt8]) async throws {
        try await publisher.client.publishAndWait(MQTTMessage(topic: topic, payload: bytes, qos: .atLeastOnce))
    }

    /// Every seq acked so far for `agent`.
    func ackedSeqs(_ agent: String) -> Set<Int64> { Self.ackedSeqs(agent, in: acks.messages) }

    /// What an agent does until the hub has acked `seqs`: publishes every one not acked yet (`message(seq)`), again
    /// each `every` (its ack timeout, shortened), until all are acked or the deadline; returns whether all were.
    /// (A hub that has not subscribed yet, or was killed, never acks some: they are sent again.)
    static func publishUntilAcked(
        _ seqs: ClosedRange<Int64>, by device: TestSubscriber, agent: String, every: Duration = .milliseconds(500),
        timeout: Duration = TestDeadline.generous, _ message: (Int64) -> MQTTMessage
    ) async -> Bool {
        await eventually(timeout: timeout, interval: every) {
            let missing = Set(seqs).subtracting(ackedSeqs(agent, in: device.messages))
            for seq in missing.sorted() {
                guard (try? await device.client.publishAndWait(message(seq))) != nil else { break }
            }
            return missing.isEmpty
        }
    }

    /// Every seq the acks for `agent` among `messages` name.
    static func ackedSeqs(_ agent: String, in messages: [MQTTMessage]) -> Set<Int64> {
        var result = Set<Int64>()
        for message in messages where message.topic == Topics.ack(agent: agent) {
            guard let ack = try? PayloadCoding.decode(AckMessage.self, from: message.payload),
                let ranges = try? ack.ranges()
            else { continue }
            for range in ranges { result.formUnion(range) }
        }
        return result
    }

    /// The value of a counter line in /metrics, 0 when absent.
    func metric(_ name: String, reason: String? = nil) -> Double {
        let prefix = reason.map { "\(name){reason=\"\($0)\"}" } ?? name
        for line in metrics.render().split(separator: "\n") where line.hasPrefix(prefix + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    static func fix(_ agent: String, _ seq: Int64, time: Int64? = nil) -> Fix {
        Fix(
            agent: agent, seq: seq, time: Timestamp.format(milliseconds: time ?? (1_795_082_400_000 + seq * 1000)),
            lat: 22.3 + Double(seq) * 1e-5, lon: 87.3, mode: 3)
    }

    func shutdown() {
        for task in tasks { task.cancel() }
        mqtt.shutdown()
        publisher.client.shutdown()
        acks.client.shutdown()
        broker.stop()
        store.close()
        directory.remove()
    }
}
