import DabbaCore
import DabbaHub
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HubSQLite
import HummingbirdWSClient
import Logging
import ServiceLifecycle
import Synchronization

/// Live feed latency: the whole hub application (HTTP server, MQTT, ingest, feed) on loopback ports, an operator
/// signed in over HTTP with a WebSocket ticket, a real WebSocket client on `/v1/fleet/live`, and N simulated agents
/// each publishing one fix a second (QoS 1, `…/{agent}/fix`), spread evenly over the second. Latency is from the
/// instant the bench hands a fix to libmosquitto to the instant the WebSocket frame carrying it arrives. Baseline
/// in the same run: a raw libmosquitto subscriber on the same broker, same publish instants, so the difference is
/// what the hub adds (decode, validate, feed, JSON, WebSocket).
enum LiveLatencyBenchmark {
    struct Configuration {
        var agents: Int
        var seconds: Int
        var connections: Int
    }

    struct Side {
        var summary: LatencySummary
        var coalesced: Int
        var lost: Int
        var repeats: Int
    }

    struct Result {
        var published: Int
        var hub: Side
        var raw: Side
        var publishLateMaxMS: Double
        var otherFrames: Int
    }

    static let operatorEmail = "ops@bench.invalid"
    static let operatorPassword = "bench-password-1"

    static func run(_ c: Configuration, directory: TestDirectory) async throws -> Result {
        let logger = benchLogger("hub-bench-live")
        let broker = try await MosquittoBroker.started(directory: directory, extraConfig: IngestBenchmark.brokerConfig)
        defer { broker.stop() }
        let httpPort = FreePort.next()
        let configuration = try HubConfiguration.make([
            "mqtt-port": "\(broker.port)", "http-port": "\(httpPort)",
            "database": "sqlite:" + directory.path("live.db"),
            "log-level": "warning", "payment-provider": "test",
        ])
        let store = try SQLiteHubStore(path: directory.path("live.db"), logger: logger)
        defer { store.close() }
        for i in 0..<c.agents { _ = try await store.createAgent(id: BenchAgent.id(i), name: nil) }
        let hub = try await HubComponents.make(
            configuration: configuration, store: store, logger: logger, bcryptCost: 4)
        _ = try await hub.auth.createUser(
            email: operatorEmail, password: operatorPassword, name: "Bench operator", role: .operator)
        let app = buildApplication(hub: hub, logger: logger)
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        try await waitUntil("hub HTTP listening on \(httpPort)", timeout: .seconds(20)) {
            FreePort.isListening(httpPort)
        }
        try await waitUntil("hub MQTT subscriptions granted", timeout: .seconds(15)) { hub.mqtt.isSubscribed }
        let ticket = try signIn(port: httpPort)

        let clock = ContinuousClock()
        let published = InstantTable(agents: c.agents, seqs: c.seconds, origin: clock.now)
        let hubSeen = InstantTable(agents: c.agents, seqs: c.seconds, origin: published.origin)
        let rawSeen = InstantTable(agents: c.agents, seqs: c.seconds, origin: published.origin)
        let raw = try RawSubscriber(
            port: broker.port, clientID: "bench-raw-live", filter: "dabba/v1/agents/+/fix", receipts: rawSeen)
        defer { raw.stop() }
        try await waitUntil("raw subscriber subscribed", timeout: .seconds(15)) {
            raw.subscribed.load(ordering: .acquiring)
        }

        let feed = FeedReader(receipts: hubSeen)
        let hardStop = Duration.seconds(c.seconds + 90)
        let readerFailure = Cell<String?>(nil)
        let reader = Task {
            do {
                try await feed.read(port: httpPort, ticket: ticket, hardStop: hardStop, logger: logger)
            } catch {
                readerFailure.value = "fleet feed: \(error)"
            }
            feed.closed.store(true, ordering: .releasing)
        }
        defer { reader.cancel() }
        try await waitUntil("fleet feed snapshot frame", timeout: .seconds(15)) {
            if let failure = readerFailure.value { throw BenchError(failure) }
            if feed.closed.load(ordering: .acquiring) { throw BenchError("fleet feed closed before its snapshot") }
            return feed.snapshotSeen.load(ordering: .acquiring)
        }

        let publishers = try (0..<c.connections).map {
            try PublisherConnection(port: broker.port, clientID: "bench-live-pub-\($0)", window: 100)
        }
        defer { for p in publishers { p.stop() } }
        try await waitUntil("publishers connected", timeout: .seconds(15)) {
            publishers.allSatisfy { $0.connected.load(ordering: .acquiring) }
        }

        let outcome = ThreadOutcome()
        let lateMax = Cell<Duration>(.zero)
        say("  publishing \(c.agents) agents × 1 Hz for \(c.seconds) s …")
        NativeThread.detach(name: "bench-live-pub") {
            do {
                let late = try schedule(c, publishers: publishers, published: published)
                lateMax.value = late
            } catch {
                outcome.fail(error)
            }
            outcome.finished.add(1, ordering: .releasing)
        }
        let total = c.agents * c.seconds
        try await waitUntil("publisher schedule", timeout: .seconds(c.seconds + 30), interval: .milliseconds(100)) {
            if let failure = outcome.firstFailure { throw BenchError(failure) }
            return outcome.finished.load(ordering: .acquiring) == 1
        }
        // Stragglers: up to 5 s for both readers to have everything (missing ones are reported, not waited for).
        _ = try? await waitUntil("readers complete", timeout: .seconds(5), interval: .milliseconds(50)) {
            hubSeen.filled >= total && rawSeen.filled >= total
        }
        feed.stop.store(true, ordering: .releasing)
        _ = try? await withDeadline("WebSocket close", .seconds(20)) { await reader.value }
        if let failure = readerFailure.value { throw BenchError(failure) }

        let hubView = published.compare(reader: hubSeen)
        let rawView = published.compare(reader: rawSeen)
        await group.triggerGracefulShutdown()
        _ = try? await withDeadline("hub shutdown", .seconds(15)) { try await running.value }
        return Result(
            published: published.filled,
            hub: Side(
                summary: LatencySummary(milliseconds: hubView.latenciesMS, missed: hubView.lost),
                coalesced: hubView.coalesced,
                lost: hubView.lost, repeats: hubSeen.repeatCount),
            raw: Side(
                summary: LatencySummary(milliseconds: rawView.latenciesMS, missed: rawView.lost),
                coalesced: rawView.coalesced,
                lost: rawView.lost, repeats: rawSeen.repeatCount),
            publishLateMaxMS: lateMax.value.inMilliseconds, otherFrames: feed.otherFrames.load(ordering: .relaxed))
    }

    /// `POST /v1/auth/login` as the operator, then `POST /v1/ws-tickets`; returns the ticket.
    static func signIn(port: Int) throws -> String {
        let login = try LoopbackHTTP.post(
            port: port, path: "/v1/auth/login",
            json: #"{"email":"\#(operatorEmail)","password":"\#(operatorPassword)"}"#)
        guard login.status == 200, let token = login.json["accessToken"] as? String else {
            throw BenchError("login: HTTP \(login.status) \(login.text)")
        }
        let issued = try LoopbackHTTP.post(port: port, path: "/v1/ws-tickets", json: "{}", bearer: token)
        guard issued.status == 200, let ticket = issued.json["ticket"] as? String else {
            throw BenchError("ws-tickets: HTTP \(issued.status) \(issued.text)")
        }
        return ticket
    }

    /// The agents' clock: fix k (agent k mod N, seq k / N + 1) is due at start + k/N seconds. Runs on its own thread;
    /// records the instant each fix is handed to libmosquitto; returns how late the latest publish was.
    static func schedule(_ c: Configuration, publishers: [PublisherConnection], published: InstantTable) throws
        -> Duration
    {
        let clock = ContinuousClock()
        let step = Duration.seconds(1) / c.agents
        let start = clock.now + .milliseconds(100)
        let wallStart = wallClockMilliseconds()
        let topics = (0..<c.agents).map { Topics.fix(agent: BenchAgent.id($0)) }
        var lateMax = Duration.zero
        for k in 0..<(c.agents * c.seconds) {
            let agent = k % c.agents
            let seq = k / c.agents + 1
            let payload = Fix(
                agent: BenchAgent.id(agent), seq: Int64(seq),
                time: Timestamp.format(milliseconds: wallStart + Int64(k)),
                lat: 22.3149 + Double(seq) * 1e-5, lon: 87.3105 - Double(agent) * 1e-4, speed: 6.5, hacc: 3.5, mode: 3
            ).jsonBytes()
            let due = start + step * k
            let wait = due - clock.now
            if wait > .microseconds(50) { usleep(UInt32(wait.inMilliseconds * 1000)) }
            let at = clock.now
            try publishers[agent % publishers.count].publish(topic: topics[agent], payload: payload)
            published.record(agent: agent, seq: seq, at: at)
            lateMax = max(lateMax, at - due)
        }
        return lateMax
    }
}

/// The operator's WebSocket client on `/v1/fleet/live`: notes the arrival instant of each frame before decoding it,
/// then records position frames by (agent, seq).
final class FeedReader: Sendable {
    let receipts: InstantTable
    let snapshotSeen = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    /// Set when the connection ended (normally or not).
    let closed = Atomic<Bool>(false)
    let otherFrames = Atomic<Int>(0)
    private let timedOut = Atomic<Bool>(false)

    init(receipts: InstantTable) { self.receipts = receipts }

    private struct Frame: Decodable {
        struct Position: Decodable { var seq: Int }
        var type: String
        var agent: String?
        var position: Position?
    }

    /// Connects with the ticket, reads until `stop` is set (then closes normally) or `hardStop` passes (then closes
    /// and throws).
    ///
    /// The `Origin` the hub checks is the one `WebSocketClient` always sends itself, `ws://127.0.0.1` (scheme and
    /// host of the URL): the hub's own host, so allowed. An extra `Origin` in `additionalHeaders` would be *added* as
    /// a second field, which the hub reads as one comma-joined value and refuses.
    func read(port: Int, ticket: String, hardStop: Duration, logger: Logger) async throws {
        try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/v1/fleet/live?ticket=\(ticket)",
            configuration: .init(maxFrameSize: 1 << 22), logger: logger
        ) { inbound, outbound, _ in
            let watchdog = Task {
                let deadline = ContinuousClock.now + hardStop
                while !self.stop.load(ordering: .acquiring) {
                    if ContinuousClock.now >= deadline {
                        self.timedOut.store(true, ordering: .relaxed)
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
                try? await outbound.close(.normalClosure, reason: nil)
            }
            defer { watchdog.cancel() }
            let decoder = JSONDecoder()
            for try await message in inbound.messages(maxSize: 1 << 22) {
                let now = ContinuousClock.now
                guard case .text(let text) = message, let frame = try? decoder.decode(Frame.self, from: Data(text.utf8))
                else {
                    self.otherFrames.add(1, ordering: .relaxed)
                    continue
                }
                if frame.type == "snapshot" {
                    self.snapshotSeen.store(true, ordering: .releasing)
                } else if frame.type == "position",
                    let agent = frame.agent.flatMap({ BenchAgent.index(Substring($0)) }),
                    let seq = frame.position?.seq
                {
                    self.receipts.record(agent: agent, seq: seq, at: now)
                } else {
                    self.otherFrames.add(1, ordering: .relaxed)
                }
            }
        }
        if self.timedOut.load(ordering: .relaxed) { throw BenchError("fleet feed: still open after \(hardStop)") }
    }
}
