import DabbaAgent
import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Foundation
import Logging

/// Backlog drain: N buffered fixes from the agent's outbox to a local mosquitto with PUBACKs, against a raw
/// libmosquitto publisher of the same messages in the same run: like for like, the same backlog payloads (100 fixes
/// each, byte for byte what the agent sends) with the same window of 10, the same stand-in hub (``Acker``) taking
/// every message from the broker and acking it, and the publisher taking those acks as the agent does; and one fix
/// per message with a window of 20 against the agent at `backlog-batch 1`. Diagnostics: the same raw publisher with
/// nobody subscribed (the broker only PUBACKs and drops), and the agent's MQTT client without the engine.
/// Separately, the drain of a week offline with the shipped defaults.
enum DrainBenchmark {
    struct AgentRun {
        var batch: Int
        var pubackSeconds: Double
        var ackedSeconds: Double
        var messages: Int64
    }

    struct Result {
        var fixes: Int
        /// The raw publisher, one fix per message, window 20.
        var rawSeconds: Double
        /// The raw publisher, the agent's backlog messages (100 fixes each), window 10, a stand-in hub acking them
        /// (the agent runs' conditions): the target's baseline.
        var rawBatchedSeconds: Double
        var rawBatchedMessages: Int
        /// The same run until the stand-in hub's ack for every message had reached the publisher: the baseline of
        /// the agent's outbox emptied.
        var rawBatchedAckedSeconds: Double
        /// The same messages with nobody subscribed to them (diagnostic: the broker's share).
        var rawUnconsumedSeconds: Double
        /// The agent's MQTT client alone (``ClientPublisher``), the same backlog messages, window 10 (diagnostic).
        var clientBatchedSeconds: Double
        var agent: [AgentRun]
    }

    static func run(fixes count: Int, broker: MosquittoBroker, directory: TestDirectory) async throws -> Result {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let agentID = "bench-1"
        let start = wallClockMilliseconds() - Int64(count) * 1000

        let path = directory.path("drain-template.db")
        let payloads = try prefill(path: path, count: count, agentID: agentID, start: start, logger: logger)

        // Baselines: raw libmosquitto with the same messages as each agent run.
        let rawBatches = stride(from: 0, to: payloads.count, by: 100).map { first in
            BacklogMessage.payload(agent: agentID, fixPayloads: payloads[first..<min(first + 100, payloads.count)])
        }
        let rawUnconsumed = try await offPool {
            try RawPublisher.run(
                port: broker.port, topic: Topics.backlog(agent: "bench-raw"), payloads: rawBatches, window: 10)
        }
        // Like the agent runs: a stand-in hub takes every message and acks it; the publisher takes the acks.
        let (rawBatched, rawAcked) = try await withAcker(broker: broker, name: "raw", logger: logger) {
            try await offPool {
                let seconds = try RawPublisher.run(
                    port: broker.port, topic: Topics.backlog(agent: "bench-raw"), payloads: rawBatches, window: 10,
                    ackTopic: Topics.ack(agent: "bench-raw"))
                return (seconds, RawPublisher.lastAckedSeconds)
            }
        }
        let clientBatched = try await ClientPublisher.run(
            port: broker.port, topic: Topics.backlog(agent: "bench-client"), payloads: rawBatches, window: 10,
            logger: logger)
        let raw = try RawPublisher.run(
            port: broker.port, topic: Topics.fix(agent: "bench-raw"), payloads: payloads, window: 20)

        var runs: [AgentRun] = []
        // BENCH_DRAIN_BATCHES (default "100,1"): the agent runs' backlog-batch values (100 only, to profile it).
        let batches = (ProcessInfo.processInfo.environment["BENCH_DRAIN_BATCHES"] ?? "100,1").split(separator: ",")
            .compactMap { Int($0) }.filter { (1...1000).contains($0) }
        for batch in batches {
            let copy = directory.path("drain-\(batch).db")
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            let flags = [
                "backlog-rate": "0", "outbox-max-rows": "\(count * 2)", "max-unacked": "\(count)",
                "backlog-batch": "\(batch)", "backlog-window": batch == 1 ? "20" : "10",
            ]
            runs.append(try await drain(outbox: copy, flags: flags, count: count, broker: broker, logger: logger))
        }
        return Result(
            fixes: count, rawSeconds: raw, rawBatchedSeconds: rawBatched, rawBatchedMessages: rawBatches.count,
            rawBatchedAckedSeconds: rawAcked, rawUnconsumedSeconds: rawUnconsumed, clientBatchedSeconds: clientBatched,
            agent: runs)
    }

    /// Runs `body` while a stand-in hub (``Acker``, the hub's decoders) takes every agent's messages and acks them.
    static func withAcker<T: Sendable>(
        broker: MosquittoBroker, name: String, logger: Logger, _ body: () async throws -> T
    ) async throws -> T {
        let acker = Acker(host: "127.0.0.1", port: broker.port, clientID: "bench-acker-\(name)", logger: logger)
        let ackerTask = Task { try? await acker.run() }
        let result: Swift.Result<T, any Error>
        if await eventually(timeout: .seconds(10), { acker.isSubscribed }) {
            do { result = .success(try await body()) } catch { result = .failure(error) }
        } else {
            result = .failure(BenchError("the stand-in hub did not subscribe in 10 s"))
        }
        acker.shutdown()
        await ackerTask.value
        return try result.get()
    }

    /// A week offline at 1 Hz drained with the shipped defaults (`backlog-rate 2000`, `backlog-batch 100`,
    /// `backlog-window 10`, `max-unacked 20000`; `outbox-max-rows` raised to hold the week when it is above the
    /// default 700,000).
    static func week(fixes count: Int, broker: MosquittoBroker, directory: TestDirectory) async throws -> AgentRun {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let start = wallClockMilliseconds() - Int64(count) * 1000
        let path = directory.path("week.db")
        _ = try prefill(path: path, count: count, agentID: "bench-1", start: start, logger: logger)
        let flags = count > 700_000 ? ["outbox-max-rows": "\(count * 2)"] : [:]
        return try await drain(outbox: path, flags: flags, count: count, broker: broker, logger: logger)
    }

    /// An outbox at `path` holding `count` fixes 1 s apart from `start` (synchronous=NORMAL for speed; the drains
    /// run with the default FULL); their payloads.
    static func prefill(path: String, count: Int, agentID: String, start: Int64, logger: Logger) throws -> [[UInt8]] {
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
        return payloads
    }

    /// The agent's engine draining the outbox at `path` to the broker with the agent's defaults overridden by
    /// `flags`, an acker acking what it receives (as the hub does).
    static func drain(
        outbox path: String, flags: [String: String], count: Int, broker: MosquittoBroker, logger: Logger
    ) async throws -> AgentRun {
        let name = path.split(separator: "/").last.map(String.init) ?? "drain"
        return try await withAcker(broker: broker, name: name, logger: logger) {
            try await runEngine(outbox: path, name: name, flags: flags, count: count, broker: broker, logger: logger)
        }
    }

    /// ``drain(outbox:flags:count:broker:logger:)`` while its stand-in hub runs: the engine from start to an empty
    /// outbox.
    private static func runEngine(
        outbox path: String, name: String, flags: [String: String], count: Int, broker: MosquittoBroker,
        logger: Logger
    ) async throws -> AgentRun {
        let agentID = "bench-1"
        let layered = try LayeredConfiguration(
            keys: AgentConfiguration.keys, file: nil, environment: [:],
            flags: ["agent-id": agentID, "mqtt-port": "\(broker.port)", "outbox": path].merging(flags) { $1 })
        let configuration = try AgentConfiguration(layered)
        let batch = configuration.backlogBatch
        var mqttConfiguration = MQTTConfiguration(
            host: "127.0.0.1", port: broker.port, clientID: "bench-agent-\(name)")
        mqttConfiguration.maxInflight = configuration.backlogWindow + 10
        let mqtt = MQTTClient(configuration: mqttConfiguration, logger: logger)
        mqtt.subscribe(Topics.ack(agent: agentID), qos: .atLeastOnce)
        let outbox = try Outbox(path: path, options: Outbox.Options(), logger: logger)
        let engine = AgentEngine(configuration: configuration, outbox: outbox, mqtt: mqtt, logger: logger)

        let clock = ContinuousClock()
        let t0 = clock.now
        let mqttTask = Task { try? await mqtt.run() }
        let forward = Task { await engine.consume(mqtt.events) }
        // The engine's periodic tick, as `AgentService` runs it (every second): without it, a drain whose rate limit
        // ran dry just as its last message was acked had no event left to resume it, and stalled for good (the
        // week's drain did, under load).
        let ticker = Task {
            for _ in 0..<7_200 where !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                _ = await engine.tick()
            }
        }
        var pubacked: Duration?
        var acked: Duration?
        while acked == nil, clock.now - t0 < .seconds(1800) {
            try await Task.sleep(for: .milliseconds(5))
            let status = await engine.status()
            if pubacked == nil, status.counters.rowsPubacked >= Int64(count) { pubacked = clock.now - t0 }
            if status.outboxDepth == 0 { acked = clock.now - t0 }
        }
        ticker.cancel()
        await ticker.value
        let messages = await engine.status().counters.backlogMessages
        mqtt.shutdown()
        _ = await mqttTask.value
        forward.cancel()
        engine.stopThread()
        guard let pubacked, let acked else { throw BenchError("drain did not finish") }
        return AgentRun(batch: batch, pubackSeconds: pubacked.seconds, ackedSeconds: acked.seconds, messages: messages)
    }
}

extension Duration {
    var seconds: Double { timeInterval }
}
