import DabbaAgent
import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Foundation
import Logging

/// Backlog drain: N buffered fixes from the agent's outbox to a local mosquitto with PUBACKs, against the raw
/// libmosquitto publisher of the same fix payloads (one message each) in the same run.
enum DrainBenchmark {
    struct AgentRun {
        var batch: Int
        var pubackSeconds: Double
        var ackedSeconds: Double
        var messages: Int64
    }

    struct Result {
        var fixes: Int
        var rawSeconds: Double
        var agent: [AgentRun]
    }

    static func run(fixes count: Int, broker: MosquittoBroker, directory: TestDirectory) async throws -> Result {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let agentID = "bench-1"
        let start = wallClockMilliseconds() - Int64(count) * 1000

        // Prefill the outbox (synchronous=NORMAL for speed; the drain below runs with the default FULL).
        let path = directory.path("drain-template.db")
        var payloads: [[UInt8]] = []
        payloads.reserveCapacity(count)
        do {
            var options = Outbox.Options()
            options.synchronous = "NORMAL"
            options.maxRows = count * 2
            let outbox = try Outbox(path: path, options: options, logger: logger)
            for i in 0..<count {
                let row = try outbox.append(kind: .fix, time: start + Int64(i) * 1000) { seq in
                    PayloadCoding.encode(
                        Fix(
                            agent: agentID, seq: seq, time: Timestamp.format(milliseconds: start + Int64(i) * 1000),
                            lat: 22.3149 + Double(i) * 1e-6, lon: 87.3105 - Double(i) * 1e-6, alt: 31.5, speed: 7.25,
                            track: 181.5, hacc: 3.2, mode: 3))
                }
                payloads.append(row.payload)
            }
            guard try outbox.checkpoint() else { throw BenchError("the template outbox's WAL did not checkpoint") }
        }

        // Baseline: raw libmosquitto, same payloads, one message each, window 20.
        let raw = try RawPublisher.run(
            port: broker.port, topic: Topics.fix(agent: "bench-raw"), payloads: payloads, window: 20)

        var runs: [AgentRun] = []
        for batch in [100, 1] {
            let copy = directory.path("drain-\(batch).db")
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            runs.append(try await drain(outbox: copy, batch: batch, count: count, broker: broker, logger: logger))
        }
        return Result(fixes: count, rawSeconds: raw, agent: runs)
    }

    /// The agent's engine draining a copy of the outbox to the same broker, an acker acking what it receives.
    static func drain(outbox path: String, batch: Int, count: Int, broker: MosquittoBroker, logger: Logger) async throws
        -> AgentRun
    {
        let agentID = "bench-1"
        let acker = Acker(host: "127.0.0.1", port: broker.port, clientID: "bench-acker-\(batch)", logger: logger)
        let ackerTask = Task { try? await acker.run() }
        _ = await eventually(timeout: .seconds(10)) { acker.isSubscribed }

        let layered = try LayeredConfiguration(
            keys: AgentConfiguration.keys, file: nil, environment: [:],
            flags: [
                "agent-id": agentID, "mqtt-port": "\(broker.port)", "outbox": path, "backlog-rate": "0",
                "outbox-max-rows": "\(count * 2)", "max-unacked": "\(count)", "backlog-batch": "\(batch)",
                "backlog-window": batch == 1 ? "20" : "10",
            ])
        let configuration = try AgentConfiguration(layered)
        var mqttConfiguration = MQTTConfiguration(
            host: "127.0.0.1", port: broker.port, clientID: "bench-agent-\(batch)")
        mqttConfiguration.maxInflight = configuration.backlogWindow + 10
        let mqtt = MQTTClient(configuration: mqttConfiguration, logger: logger)
        mqtt.subscribe(Topics.ack(agent: agentID), qos: .atLeastOnce)
        let outbox = try Outbox(path: path, options: Outbox.Options(), logger: logger)
        let engine = AgentEngine(configuration: configuration, outbox: outbox, mqtt: mqtt, logger: logger)

        let clock = ContinuousClock()
        let t0 = clock.now
        let mqttTask = Task { try? await mqtt.run() }
        let forward = Task { for await event in mqtt.events { await engine.handle(event) } }
        var pubacked: Duration?
        var acked: Duration?
        while acked == nil, clock.now - t0 < .seconds(600) {
            try await Task.sleep(for: .milliseconds(5))
            let status = await engine.status()
            if pubacked == nil, status.counters.rowsPubacked >= Int64(count) { pubacked = clock.now - t0 }
            if status.outboxDepth == 0 { acked = clock.now - t0 }
        }
        let messages = await engine.status().counters.backlogMessages
        mqtt.shutdown()
        acker.shutdown()
        _ = await mqttTask.value
        forward.cancel()
        await ackerTask.value
        engine.stopThread()
        guard let pubacked, let acked else { throw BenchError("drain did not finish") }
        return AgentRun(batch: batch, pubackSeconds: pubacked.seconds, ackedSeconds: acked.seconds, messages: messages)
    }
}

extension Duration {
    var seconds: Double { timeInterval }
}
