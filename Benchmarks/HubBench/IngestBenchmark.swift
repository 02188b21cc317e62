import DabbaCore
import DabbaHub
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HubModel
import HubPostgres
import HubSQLite
import Logging
import ServiceLifecycle
import Synchronization

/// Ingest throughput: many simulated agents publish fixes (QoS 1, one fix per message on `…/{agent}/fix`, the live
/// lane) as fast as a bounded window allows; the hub's real `IngestService` over a real `SQLiteHubStore` file — or
/// 1 to N hubs in one ingest group, each with its own `PostgresHubStore` pool on one PostgreSQL — validates,
/// group-commits and acks them, while a raw libmosquitto subscriber on the same broker counts the same stream in the
/// same run. Both rates are over the same window: from the first publish to the instant the reader
/// had everything (raw: last message received; hub: `dabba_ingest_committed_total` reached the total, polled
/// every 5 ms). The store is checked at the end to hold exactly one row per published fix.
enum IngestBenchmark {
    struct Configuration {
        var agents: Int
        var fixes: Int
        var connections: Int
        var window: Int
        var hubOverrides: [String: String]
        /// Where the hubs store: one SQLite file (one hub), or a PostgreSQL database URL (any number of hubs).
        var backend: Backend = .sqlite
        /// Hubs in one ingest group (`$share`), each with its own MQTT client, store and pool, as separate
        /// processes would have; 1 without a group.
        var hubs: Int = 1
        /// The broker's settings (``brokerConfig``, or ``productionBrokerConfig()``).
        var broker: [String] = IngestBenchmark.brokerConfig
        /// Whether the broker may drop messages (production's queue limit): the hub's end is then its last commit
        /// once nothing more arrives for 5 s, instead of its commit of every fix.
        var brokerMayDrop = false
        /// Fixes per message: 1 publishes one fix per message on `…/fix` (the live lane); more publishes the agents'
        /// backlog messages on `…/backlog`, that many fixes each, built as the agent builds them.
        var fixesPerMessage = 1
    }

    enum Backend {
        case sqlite
        case postgres(url: String)
    }

    struct Result {
        var fixes: Int
        var publishSeconds: Double
        var rawSeconds: Double
        var hubSeconds: Double
        /// Seconds from the first publish until the hub's first commit and the raw reader's first message.
        var hubFirstCommit: Double
        var commits: Int
        var commitSecondsTotal: Double
        var rowsStored: Int
        var rejected: Int
        var rawRepeats: Int
        /// Fixes the raw subscriber received (fewer than `fixes` when the broker dropped some for it).
        var rawReceived = 0
        /// Distinct (agent, seq) pairs the agents' ack topics carried (a subscriber on `…/ack`).
        var acked: Int
        /// Agents whose acked seqs are not exactly the ones published.
        var agentsNotFullyAcked: Int
        var malformedAcks: Int
        var hubSettings: String
    }

    static func run(_ c: Configuration, directory: TestDirectory) async throws -> Result {
        let logger = benchLogger("hub-bench-ingest")
        let perAgent = c.fixes / c.agents
        let total = perAgent * c.agents
        let broker = try await MosquittoBroker.started(directory: directory, extraConfig: c.broker)
        defer { broker.stop() }

        // The hubs: production components, each one's ingest service and MQTT client in a ServiceGroup, as `serve`
        // runs them.
        var stores: [any HubStore] = []
        var closers: [@Sendable () async -> Void] = []
        defer { for close in closers { Task { await close() } } }
        switch c.backend {
        case .sqlite:
            precondition(c.hubs == 1, "several hubs need PostgreSQL")
            let store = try SQLiteHubStore(path: directory.path("ingest.db"), logger: logger)
            stores = [store]
            closers = [{ store.close() }]
        case .postgres(let url):
            for _ in 0..<c.hubs {
                let store = try await PostgresHubStore.open(try PostgresStoreConfiguration(url: url), logger: logger)
                stores.append(store)
                closers.append({ await store.shutdown() })
            }
        }
        for i in 0..<c.agents { _ = try await stores[0].createAgent(id: BenchAgent.id(i), name: nil) }
        var keys = [
            "mqtt-port": "\(broker.port)", "payment-provider": "test",
            "database": {
                switch c.backend {
                case .sqlite: "sqlite:" + directory.path("ingest.db")
                case .postgres(let url): url
                }
            }(),
        ]
        if c.hubs > 1 { keys["ingest-group"] = "bench" }
        keys.merge(c.hubOverrides) { $1 }
        let configuration = try HubConfiguration.make(keys)
        var hubs: [HubComponents] = []
        var services: [any Service] = []
        for store in stores {
            let hub = try await HubComponents.make(
                configuration: configuration, store: store, logger: logger, bcryptCost: 4)
            hubs.append(hub)
            services += [
                hub.mqtt,
                IngestService(
                    configuration: configuration, store: store, mqtt: hub.mqtt, feed: hub.feed, metrics: hub.metrics,
                    logger: logger),
            ]
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        try await waitUntil("hub MQTT subscriptions granted", timeout: .seconds(15)) {
            hubs.allSatisfy { $0.mqtt.isSubscribed }
        }

        let batch = c.fixesPerMessage
        guard batch >= 1, perAgent % batch == 0 else {
            throw BenchError("fixes per agent (\(perAgent)) must be a multiple of the fixes per message (\(batch))")
        }
        let messages = total / batch
        let raw = try RawSubscriber(
            port: broker.port, clientID: "bench-raw-ingest",
            filter: batch == 1 ? "dabba/v1/agents/+/fix" : "dabba/v1/agents/+/backlog")
        defer { raw.stop() }
        let acks = try AckCounter(port: broker.port)
        defer { acks.stop() }
        try await waitUntil("raw and ack subscribers subscribed", timeout: .seconds(15)) {
            raw.subscribed.load(ordering: .acquiring) && acks.subscriber.subscribed.load(ordering: .acquiring)
        }

        // Payloads prepared before the clock starts: connection k carries agents k, k+C, …; each agent's fixes in
        // seq order, agents interleaved.
        let start = wallClockMilliseconds() - Int64(perAgent) * 1000
        var lanes = [[(topic: String, payload: [UInt8])]](repeating: [], count: c.connections)
        for first in stride(from: 1, through: perAgent, by: batch) {
            for agent in 0..<c.agents {
                let id = BenchAgent.id(agent)
                let fixes = (first..<(first + batch)).map { seq in
                    Fix(
                        agent: id, seq: Int64(seq), time: Timestamp.format(milliseconds: start + Int64(seq) * 1000),
                        lat: 22.3149 + Double(seq) * 1e-6, lon: 87.3105 - Double(agent) * 1e-4, alt: 31.5, speed: 7.25,
                        track: 181.5, hacc: 3.2, mode: 3)
                }
                let message =
                    batch == 1
                    ? (Topics.fix(agent: id), fixes[0].jsonBytes())
                    : (
                        Topics.backlog(agent: id),
                        BacklogMessage.payload(agent: id, fixPayloads: fixes.map { $0.jsonBytes() })
                    )
                lanes[agent % c.connections].append(message)
            }
        }
        let publishers = try (0..<c.connections).map {
            try PublisherConnection(port: broker.port, clientID: "bench-pub-\($0)", window: c.window)
        }
        defer { for p in publishers { p.stop() } }
        try await waitUntil("publishers connected", timeout: .seconds(15)) {
            publishers.allSatisfy { $0.connected.load(ordering: .acquiring) }
        }

        let counters = HubCounters(metrics: hubs.map(\.metrics))
        let clock = ContinuousClock()
        let t0 = clock.now
        let outcome = ThreadOutcome()
        for (k, lane) in lanes.enumerated() {
            let publisher = publishers[k]
            NativeThread.detach(name: "bench-pub-\(k)") {
                do {
                    for message in lane { try publisher.publish(topic: message.topic, payload: message.payload) }
                } catch {
                    outcome.fail(error)
                }
                outcome.finished.add(1, ordering: .releasing)
            }
        }
        lanes = []

        // Wait for the three ends (all PUBACKed, raw has all, hub committed all), noting each instant.
        let limit = Duration.seconds(max(120, total / 1000))
        var publishEnd: ContinuousClock.Instant?
        var hubFirst: ContinuousClock.Instant?
        var hubEnd: ContinuousClock.Instant?
        var lastCommitted = 0
        var lastCommitAt = clock.now
        var lastRaw = 0
        var lastRawAt = clock.now
        do {
            try await waitUntil("ingest of \(total) fixes", timeout: limit, interval: .milliseconds(5)) {
                if let failure = outcome.firstFailure { throw BenchError(failure) }
                let now = clock.now
                if publishEnd == nil, outcome.finished.load(ordering: .acquiring) == c.connections,
                    publishers.allSatisfy({ $0.acked.load(ordering: .acquiring) >= $0.sent })
                {
                    publishEnd = now
                }
                let committed = counters.committed()
                if hubFirst == nil, committed > 0 { hubFirst = now }
                if hubEnd == nil, committed >= total { hubEnd = now }
                if committed != lastCommitted {
                    lastCommitted = committed
                    lastCommitAt = now
                }
                let received = raw.count.load(ordering: .acquiring)
                if received != lastRaw {
                    lastRaw = received
                    lastRawAt = now
                }
                // With drops, each end is the last arrival once nothing more came for 5 s.
                if c.brokerMayDrop, publishEnd != nil, now - lastCommitAt > .seconds(5), now - lastRawAt > .seconds(5) {
                    if hubEnd == nil { hubEnd = lastCommitAt }
                    return true
                }
                return publishEnd != nil && hubEnd != nil && raw.count.load(ordering: .acquiring) >= messages
            }
        } catch {
            throw BenchError(
                "\(error) — hub committed \(counters.committed()), raw received "
                    + "\(raw.count.load(ordering: .acquiring)), publishers done: \(publishEnd != nil)")
        }
        guard let publishEnd, let hubEnd, let hubFirst, let rawEnd = raw.firstAndLast.last else {
            throw BenchError("ingest: an end instant is missing")
        }

        // Every fix acked to its agent (the acks follow the commits; bounded), then the store against what was
        // published.
        _ = try? await waitUntil("acks of \(total) fixes", timeout: .seconds(30), interval: .milliseconds(20)) {
            acks.total >= min(total, counters.committed())
        }
        let ackedTotal = acks.total
        let agentsShort = acks.incomplete(agents: (0..<c.agents).map { BenchAgent.id($0) }, seqs: perAgent)
        var rows = 0
        for i in 0..<c.agents { rows += try await stores[0].positionCount(agent: BenchAgent.id(i)) }
        let commits = counters.commits()
        await group.triggerGracefulShutdown()
        _ = try? await withDeadline("hub shutdown", .seconds(15)) { try await running.value }
        for close in closers { await close() }
        closers = []
        return Result(
            fixes: total, publishSeconds: (publishEnd - t0).seconds, rawSeconds: (rawEnd - t0).seconds,
            hubSeconds: (hubEnd - t0).seconds, hubFirstCommit: (hubFirst - t0).seconds, commits: commits.count,
            commitSecondsTotal: commits.seconds, rowsStored: rows, rejected: counters.rejected(),
            rawRepeats: max(0, raw.count.load(ordering: .acquiring) - messages) * batch,
            rawReceived: min(total, raw.count.load(ordering: .acquiring) * batch), acked: ackedTotal,
            agentsNotFullyAcked: agentsShort.count, malformedAcks: acks.malformed,
            hubSettings:
                "commit-interval-ms \(Int(configuration.commitInterval.inMilliseconds)), commit-batch \(configuration.commitBatch)"
        )
    }

    /// Broker settings: `hub/mosquitto/dabba.conf`'s in-flight window and TCP_NODELAY, with a queue large enough that
    /// a reader falling behind the publishers is never dropped messages (production keeps 10,000; see BENCHMARKS.md).
    static let brokerConfig = [
        "max_inflight_messages 100", "set_tcp_nodelay true", "max_queued_messages 10000000", "max_queued_bytes 0",
    ]

    /// The limits production runs with: `hub/mosquitto/dabba.conf`'s `max_inflight_messages`, `max_queued_messages`
    /// (10,000 per client: beyond it the broker drops QoS 1 messages for a reader that fell behind),
    /// `max_queued_bytes`, `max_packet_size` and `set_tcp_nodelay`, read from the file.
    static func productionBrokerConfig() throws -> [String] {
        let text = try String(contentsOfFile: "hub/mosquitto/dabba.conf", encoding: .utf8)
        let keys = [
            "max_inflight_messages", "max_queued_messages", "max_queued_bytes", "max_packet_size", "set_tcp_nodelay",
        ]
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { line in keys.contains { line.hasPrefix($0 + " ") } }
        guard lines.contains(where: { $0.hasPrefix("max_queued_messages ") }) else {
            throw BenchError("hub/mosquitto/dabba.conf: no max_queued_messages")
        }
        return lines
    }
}

/// Reads the hubs' own counters from their Prometheus registries (what `GET /metrics` shows), summed over the hubs.
struct HubCounters {
    let metrics: [HubMetrics]

    /// `dabba_ingest_committed_total`.
    func committed() -> Int { Int(sum("dabba_ingest_committed_total")) }
    /// Sum of `dabba_ingest_rejected_total` over every reason.
    func rejected() -> Int { Int(sum(prefix: "dabba_ingest_rejected_total")) }
    /// Number of group commits and the seconds they took in total (`dabba_ingest_commit_seconds` histogram).
    func commits() -> (count: Int, seconds: Double) {
        (Int(sum("dabba_ingest_commit_seconds_count")), sum("dabba_ingest_commit_seconds_sum"))
    }

    private func sum(_ name: String) -> Double {
        var total = 0.0
        for registry in metrics {
            for line in registry.render().split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count >= 2, parts[0] == name, let value = Double(parts[1]) { total += value }
            }
        }
        return total
    }

    private func sum(prefix: String) -> Double {
        metrics.flatMap { $0.render().split(separator: "\n") }.filter { $0.hasPrefix(prefix) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }
}
