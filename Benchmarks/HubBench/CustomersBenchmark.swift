import DabbaCore
import DabbaHub
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import Synchronization

/// Customers' live feeds at scale: `dabba-hub serve` as its own process over a prepared database (see
/// ``PreparedMarket``), N customers each following their own order on `/v1/orders/{id}/live` over a real WebSocket,
/// the orders assigned to A agents (order i to agent i mod A, so every fix fans out to N/A customers), and the A
/// agents each publishing one fix a second (QoS 1, spread evenly over the second). Latency is from the instant the
/// bench hands a fix to libmosquitto to the instant a customer's `position` frame carrying that fix arrives, one
/// clock in one process; the baseline in the same run is a raw libmosquitto subscriber timed from the same publish
/// instants. The hub's memory is read from its own `/proc/PID/status` (it is a separate process, so the clients'
/// memory is not in it).
enum CustomersBenchmark {
    struct Configuration {
        var customers: Int
        var agents: Int
        var seconds: Int
        var connections: Int
        /// WebSocket handshakes in flight at once while connecting.
        var connectConcurrency: Int
        /// The hubs' database: a SQLite file in the bench directory, or a fresh PostgreSQL database.
        var backend: IngestBenchmark.Backend = .sqlite
        /// Hub processes (more than one needs PostgreSQL; they form one ingest group). Every customer connects to
        /// the first, which sees the fixes the others ingest through the cluster relay.
        var hubs: Int = 1
    }

    struct Result {
        var published: Int
        var expectedFrames: Int
        var received: Int
        var hub: LatencySummary
        var raw: LatencySummary
        var coalesced: Int
        var lost: Int
        var rawLost: Int
        var repeats: Int
        var stray: Int
        var publishLateMaxMS: Double
        var fdLimit: Int
        var setupSeconds: Double
        var loginSeconds: Double
        var connectSeconds: Double
        /// Hub memory, kB: before customers connected, once all were connected, at the end, and VmHWM at the end.
        var rssIdle: Int
        var rssConnected: Int
        var rssEnd: Int
        var rssMaxSampled: Int
        var hwm: Int
        var hubCPUSeconds: Double
        var benchRSS: Int
        var failedConnections: Int
        /// Fixes each hub committed (`dabba_ingest_committed_total`), the customers' hub first.
        var committedByHub: [Int]
    }

    static func run(_ c: Configuration, directory: TestDirectory) async throws -> Result {
        let logger = benchLogger("hub-bench-customers")
        let fdLimit = raiseOpenFileLimit(to: 65_536)
        guard fdLimit >= c.customers + 1_000 else {
            throw BenchError(
                "open-file limit \(fdLimit) is too low for \(c.customers) customers: the hub and this process each hold "
                    + "one descriptor per feed (ulimit -n; raising the hard limit needs root with CAP_SYS_RESOURCE)")
        }
        let ports = ephemeralPortCount()
        guard ports >= c.customers + 1_000 else {
            throw BenchError(
                "\(ports) ephemeral ports (net.ipv4.ip_local_port_range) are too few for \(c.customers) customers' "
                    + "connections to one hub address: BENCH_NETNS=1 runs the benchmark in a private network namespace "
                    + "with the whole range (root)")
        }
        guard c.customers % c.agents == 0 else {
            throw BenchError("customers (\(c.customers)) must be a multiple of agents (\(c.agents))")
        }
        let broker = try await MosquittoBroker.started(directory: directory, extraConfig: IngestBenchmark.brokerConfig)
        defer { broker.stop() }

        let clock = ContinuousClock()
        let setupStart = clock.now
        let market: PreparedMarket
        let database: String
        switch c.backend {
        case .sqlite:
            guard c.hubs == 1 else { throw BenchError("several hubs need PostgreSQL") }
            let path = directory.path("customers.db")
            market = try await PreparedMarket.create(
                path: path, customers: c.customers, agents: c.agents, logger: logger)
            database = "sqlite:" + path
        case .postgres(let url):
            market = try await PreparedMarket.create(
                postgres: url, customers: c.customers, agents: c.agents, logger: logger)
            database = url
        }
        let setupSeconds = (clock.now - setupStart).seconds
        say(
            "  prepared \(c.customers) customers, orders and \(c.agents) agents in \(String(format: "%.1f", setupSeconds)) s"
        )

        var hubs: [HubProcess] = []
        defer { for hub in hubs { hub.stop() } }
        for n in 0..<c.hubs {
            hubs.append(
                try await HubProcess(
                    database: database, mqttPort: broker.port, directory: directory, name: "dabba-hub-\(n)",
                    extra: c.hubs > 1 ? ["--ingest-group", "bench"] : []))
        }
        let hub = hubs[0]
        for other in hubs {
            try await waitUntil("hub connected to the broker", timeout: .seconds(20)) {
                let health = try LoopbackHTTP.get(port: other.httpPort, path: "/health")
                return health.json["broker"] as? String == "connected"
            }
        }
        let loginStart = clock.now
        let tokens = try await market.signIn(port: hub.httpPort)
        let loginSeconds = (clock.now - loginStart).seconds
        say("  \(c.customers) customers signed in over HTTP in \(String(format: "%.1f", loginSeconds)) s")
        // Let the hub settle (login work, allocator) before the idle reading.
        try await Task.sleep(for: .seconds(2))
        let rssIdle = hub.memory().rss

        let published = InstantTable(agents: c.agents, seqs: c.seconds, origin: clock.now)
        let seen = InstantTable(agents: c.customers, seqs: c.seconds, origin: published.origin)
        let rawSeen = InstantTable(agents: c.agents, seqs: c.seconds, origin: published.origin)
        let raw = try RawSubscriber(
            port: broker.port, clientID: "bench-raw-customers", filter: "dabba/v1/agents/+/fix", receipts: rawSeen)
        defer { raw.stop() }
        try await waitUntil("raw subscriber subscribed", timeout: .seconds(15)) {
            raw.subscribed.load(ordering: .acquiring)
        }

        // Publishers connect before the 10,000 sockets are open: libmosquitto's loop uses select(), which cannot
        // watch a descriptor numbered 1024 or more.
        let publishers = try (0..<c.connections).map {
            try PublisherConnection(port: broker.port, clientID: "bench-cust-pub-\($0)", window: 100)
        }
        defer { for p in publishers { p.stop() } }
        try await waitUntil("publishers connected", timeout: .seconds(15)) {
            publishers.allSatisfy { $0.connected.load(ordering: .acquiring) }
        }

        // The fix time of (agent, seq) is the publish schedule's due time, rounded to the millisecond:
        // base + (seq - 1) s + agent × (1000 / A) ms. A customer knows its agent, so the frame's time names the seq.
        let base = wallClockMilliseconds() + 10_000
        let feeds = CustomerFeeds(market: market, seen: seen, base: base, agents: c.agents)

        // Connect everyone (bounded handshakes in flight), each waiting for its snapshot.
        let connectStart = clock.now
        let port = hub.httpPort
        let clients = Task {
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<c.customers {
                    while feeds.connecting >= c.connectConcurrency, !feeds.stopping {
                        try? await Task.sleep(for: .milliseconds(2))
                    }
                    if feeds.stopping { break }
                    feeds.began()
                    let token = tokens[i]
                    group.addTask {
                        await feeds.follow(customer: i, port: port, token: token, logger: logger)
                    }
                }
            }
        }
        defer { clients.cancel() }
        let connectLimit = Duration.seconds(max(120, c.customers / 50))
        try await waitUntil(
            "\(c.customers) customer feeds open with a snapshot", timeout: connectLimit,
            interval: .milliseconds(50)
        ) {
            if let failure = feeds.firstFailure, feeds.failed > c.customers / 100 {
                throw BenchError("\(feeds.failed) customer feeds failed; first: \(failure)")
            }
            return feeds.snapshots + feeds.failed >= c.customers
        }
        let connectSeconds = (clock.now - connectStart).seconds
        say(
            "  \(feeds.snapshots) customer feeds open (snapshot received) in \(String(format: "%.1f", connectSeconds)) s"
                + (feeds.failed > 0 ? "; \(feeds.failed) failed: \(feeds.firstFailure ?? "")" : ""))
        try await Task.sleep(for: .seconds(2))
        let rssConnected = hub.memory().rss
        say(
            String(
                format: "  hub RSS: %.1f MB before the customers, %.1f MB with them connected", megabytes(kB: rssIdle),
                megabytes(kB: rssConnected)))

        // Memory sampler: the hub's VmRSS every second during the run.
        let rssMax = Atomic<Int>(rssConnected)
        let sampler = Task {
            while !Task.isCancelled {
                let now = hub.memory().rss
                var current = rssMax.load(ordering: .relaxed)
                while now > current {
                    let (exchanged, original) = rssMax.compareExchange(
                        expected: current, desired: now, ordering: .relaxed)
                    if exchanged { break }
                    current = original
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer { sampler.cancel() }

        let cpuBefore = hub.cpuSeconds()
        let outcome = ThreadOutcome()
        let lateMax = Cell<Duration>(.zero)
        say(
            "  publishing \(c.agents) agents × 1 Hz for \(c.seconds) s (each fix → \(c.customers / c.agents) customers) …"
        )
        NativeThread.detach(name: "bench-cust-pub") {
            do {
                lateMax.value = try schedule(c, base: base, publishers: publishers, published: published)
            } catch {
                outcome.fail(error)
            }
            outcome.finished.add(1, ordering: .releasing)
        }
        try await waitUntil("publisher schedule", timeout: .seconds(c.seconds + 60), interval: .milliseconds(100)) {
            if let failure = outcome.firstFailure { throw BenchError(failure) }
            return outcome.finished.load(ordering: .acquiring) == 1
        }
        let expected = c.customers * c.seconds
        _ = try? await waitUntil("customers complete", timeout: .seconds(5), interval: .milliseconds(50)) {
            seen.filled >= expected && rawSeen.filled >= c.agents * c.seconds
        }
        let hubCPU = hub.cpuSeconds() - cpuBefore
        // Each hub's share of the ingest, once the last group commits are in (10 s at most).
        let running = hubs
        @Sendable func committedByHub() throws -> [Int] {
            try running.map { other in
                let metrics = try LoopbackHTTP.get(port: other.httpPort, path: "/metrics").text
                return Int(metricValue(metrics, "dabba_ingest_committed_total") ?? 0)
            }
        }
        _ = try? await waitUntil("every fix committed", timeout: .seconds(10), interval: .milliseconds(50)) {
            try committedByHub().reduce(0, +) >= published.filled
        }
        let committed = try committedByHub()
        sampler.cancel()
        let (rssEnd, hwm) = hub.memory()

        // Close every feed from the client side (bounded), then stop the hub.
        feeds.stop()
        _ = try? await withDeadline("customer feeds closing", .seconds(60)) { await clients.value }

        let view = compare(published: published, seen: seen, agents: c.agents, customers: c.customers)
        let rawView = published.compare(reader: rawSeen)
        return Result(
            published: published.filled, expectedFrames: expected, received: seen.filled,
            hub: LatencySummary(milliseconds: view.latenciesMS, missed: view.lost),
            raw: LatencySummary(milliseconds: rawView.latenciesMS, missed: rawView.lost), coalesced: view.coalesced,
            lost: view.lost,
            rawLost: rawView.lost, repeats: seen.repeatCount, stray: seen.strayCount + feeds.unparsed,
            publishLateMaxMS: lateMax.value.inMilliseconds, fdLimit: fdLimit, setupSeconds: setupSeconds,
            loginSeconds: loginSeconds, connectSeconds: connectSeconds, rssIdle: rssIdle, rssConnected: rssConnected,
            rssEnd: rssEnd, rssMaxSampled: max(rssMax.load(ordering: .relaxed), rssEnd), hwm: hwm,
            hubCPUSeconds: hubCPU, benchRSS: processMemory(pid: getpid()).rss, failedConnections: feeds.failed,
            committedByHub: committed)
    }

    /// Agent a's fix `seq` is due at start + (seq - 1) s + a/A s, and carries the time base + the same offset (ms).
    static func schedule(_ c: Configuration, base: Int64, publishers: [PublisherConnection], published: InstantTable)
        throws -> Duration
    {
        let clock = ContinuousClock()
        let step = Duration.seconds(1) / c.agents
        let start = clock.now + .milliseconds(100)
        let topics = (0..<c.agents).map { Topics.fix(agent: BenchAgent.id($0)) }
        var lateMax = Duration.zero
        for seq in 1...c.seconds {
            for agent in 0..<c.agents {
                let offset = Int64(seq - 1) * 1000 + Int64(agent) * 1000 / Int64(c.agents)
                let payload = Fix(
                    agent: BenchAgent.id(agent), seq: Int64(seq), time: Timestamp.format(milliseconds: base + offset),
                    lat: 22.3149 + Double(seq) * 1e-5, lon: 87.3105 - Double(agent % 1000) * 1e-4, speed: 6.5,
                    hacc: 3.5, mode: 3
                ).jsonBytes()
                let due = start + .seconds(seq - 1) + step * agent
                let wait = due - clock.now
                if wait > .microseconds(50) { usleep(UInt32(wait.inMilliseconds * 1000)) }
                let at = clock.now
                try publishers[agent % publishers.count].publish(topic: topics[agent], payload: payload)
                published.record(agent: agent, seq: seq, at: at)
                lateMax = max(lateMax, at - due)
            }
        }
        return lateMax
    }

    /// Per customer and seq: latency from the publish of that seq by the customer's agent to the customer's frame;
    /// missing frames are merged (coalesced: a later seq of the same agent reached that customer) or lost.
    static func compare(published: InstantTable, seen: InstantTable, agents: Int, customers: Int)
        -> (latenciesMS: [Double], coalesced: Int, lost: Int)
    {
        let sent = published.snapshot()
        let got = seen.snapshot()
        let seqs = published.seqs
        var latencies: [Double] = []
        latencies.reserveCapacity(customers * seqs)
        var coalesced = 0
        var lost = 0
        for customer in 0..<customers {
            let agent = customer % agents
            var laterSeen = false
            for seq in stride(from: seqs, through: 1, by: -1) {
                let s = sent[agent * seqs + seq - 1]
                guard s >= 0 else { continue }
                let r = got[customer * seqs + seq - 1]
                if r >= 0 {
                    latencies.append(Double(r - s) / 1e6)
                    laterSeen = true
                } else if laterSeen {
                    coalesced += 1
                } else {
                    lost += 1
                }
            }
        }
        return (latencies, coalesced, lost)
    }
}

/// The customers' WebSocket clients: counts handshakes and snapshots, records each position frame's arrival by
/// (customer, seq), and closes every connection on `stop()`.
final class CustomerFeeds: Sendable {
    let market: PreparedMarket
    let seen: InstantTable
    let base: Int64
    let agents: Int
    private let inFlight = Atomic<Int>(0)
    private let snapshotCount = Atomic<Int>(0)
    private let failures = Atomic<Int>(0)
    private let unparsedCount = Atomic<Int>(0)
    private let firstError = Mutex<String?>(nil)
    private let stopFlag = Atomic<Bool>(false)
    /// Every open connection's writer, so `stop()` can close them all.
    private let writers = Mutex<[Int: WebSocketOutboundWriter]>([:])

    init(market: PreparedMarket, seen: InstantTable, base: Int64, agents: Int) {
        self.market = market
        self.seen = seen
        self.base = base
        self.agents = agents
    }

    var connecting: Int { inFlight.load(ordering: .acquiring) }
    var snapshots: Int { snapshotCount.load(ordering: .acquiring) }
    var failed: Int { failures.load(ordering: .acquiring) }
    var unparsed: Int { unparsedCount.load(ordering: .relaxed) }
    var stopping: Bool { stopFlag.load(ordering: .acquiring) }
    var firstFailure: String? { firstError.withLock { $0 } }

    func began() { inFlight.add(1, ordering: .acquiring) }

    private func fail(_ message: String) {
        failures.add(1, ordering: .releasing)
        firstError.withLock { if $0 == nil { $0 = message } }
    }

    /// One customer: connects with a bearer token (the hub accepts `Authorization` on the upgrade as well as
    /// `?ticket=`), waits for the snapshot, then records position frames until closed.
    func follow(customer: Int, port: Int, token: String, logger: Logger) async {
        let handshake = Handshake()
        defer { if handshake.finish() { inFlight.subtract(1, ordering: .releasing) } }
        var headers = HTTPFields()
        headers[.authorization] = "Bearer " + token
        let agent = market.agent(ofCustomer: customer)
        let offset = Int64(agent) * 1000 / Int64(agents)
        do {
            try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/v1/orders/\(PreparedMarket.orderID(customer))/live",
                configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers), logger: logger
            ) { inbound, outbound, _ in
                self.writers.withLock { $0[customer] = outbound }
                defer { _ = self.writers.withLock { $0.removeValue(forKey: customer) } }
                if self.stopping { return }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    let now = ContinuousClock.now
                    guard case .text(let text) = message else { continue }
                    if handshake.finish() {
                        self.inFlight.subtract(1, ordering: .releasing)
                        self.snapshotCount.add(1, ordering: .releasing)
                        handshake.sawSnapshot()
                        continue
                    }
                    guard let ms = Self.positionTime(text) else {
                        self.unparsedCount.add(1, ordering: .relaxed)
                        continue
                    }
                    let k = ms - self.base - offset
                    guard k >= 0, k % 1000 == 0 else {
                        self.unparsedCount.add(1, ordering: .relaxed)
                        continue
                    }
                    self.seen.record(agent: customer, seq: Int(k / 1000) + 1, at: now)
                }
            }
        } catch {
            if !stopping { fail("customer \(customer): \(error)") }
            return
        }
        if !handshake.snapshotSeen, !stopping { fail("customer \(customer): closed before its snapshot") }
    }

    /// Closes every open connection (normal closure), at most 1,000 at a time.
    func stop() {
        stopFlag.store(true, ordering: .releasing)
        let open = writers.withLock { Array($0.values) }
        Task {
            for chunk in stride(from: 0, to: open.count, by: 1000) {
                await withTaskGroup(of: Void.self) { group in
                    for writer in open[chunk..<min(open.count, chunk + 1000)] {
                        group.addTask { try? await writer.close(.normalClosure, reason: nil) }
                    }
                }
            }
        }
    }

    /// The fix time (ms) of a `position` frame, read by a byte scan: frames are encoded with sorted keys, so
    /// `"type"` is the last member, and a position frame's only `"time"` is the fix's.
    static func positionTime(_ text: String) -> Int64? {
        guard text.hasSuffix(#""type":"position"}"#), let range = text.range(of: #""time":""#) else { return nil }
        let start = range.upperBound
        guard let end = text[start...].firstIndex(of: "\"") else { return nil }
        return Timestamp.parse(String(text[start..<end]))
    }
}

/// One connection's handshake state: `finish()` is true exactly once (the first frame, or the end without one).
final class Handshake: Sendable {
    private let done = Atomic<Bool>(false)
    private let snapshot = Atomic<Bool>(false)
    func finish() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
    func sawSnapshot() { snapshot.store(true, ordering: .releasing) }
    var snapshotSeen: Bool { snapshot.load(ordering: .acquiring) }
}

/// How many local ports outgoing connections can use (`net.ipv4.ip_local_port_range`; the kernel's default range
/// when unreadable).
func ephemeralPortCount() -> Int {
    let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
    guard bounds.count == 2, bounds[1] >= bounds[0] else { return 60_999 - 32_768 + 1 }
    return bounds[1] - bounds[0] + 1
}
