import DabbaCore
import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Foundation
import HTTPTypes
import HubSQLite
import HummingbirdWSClient
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// From the receiver to the customer's screen, every real component in the path: a serial receiver (a
/// pseudo-terminal the bench writes NMEA to, one fix every `interval`, stamped with the current UTC time) → a private
/// gpsd → the release `dabba-agent` (outbox commit, live lane) → mosquitto → `dabba-hub serve` (own process) → the
/// customer's WebSocket on `/v1/orders/{id}/live` for the order the device carries. Meanwhile `dabba-sim fleet` runs
/// `otherAgents` riders on the same broker and hub, a fix a second each (the load generator the demo uses).
///
/// Three instants per fix, one clock in this process: the receiver write, the TPV's arrival at a plain gpsd client
/// watching beside the agent (the baseline: gpsd's own report), and the customer's `position` frame. "gpsd →
/// customer" is frame − TPV: what the agent, broker and hub add. A fix gpsd reported but the customer never saw counts
/// as a miss. The interval is not a whole second, so the device's fixes fall at every phase of the fleet's once-a-
/// second burst.
enum DeviceLatencyBenchmark {
    struct Configuration {
        /// Fixes measured (after `warmUp` more that gpsd uses to learn the receiver's NMEA cycle).
        var fixes: Int
        var warmUp: Int
        var otherAgents: Int
        var interval: Duration
    }

    struct Result {
        var gpsdToCustomer: LatencySummary
        var receiverToCustomer: LatencySummary
        var receiverToGpsd: LatencySummary
        /// Measured fixes gpsd never reported to the plain client (not the product's loss; left out of both sides).
        var notReportedByGpsd: Int
        var lost: Int
        var agentsOnline: Int
        /// Fixes the hub committed per second while the device's fixes were measured (the fleet's and the device's).
        var hubCommittedPerSecond: Double
        var hubCPUPercent: Double
        var fleetSummary: String
        var seconds: Double
    }

    static func run(_ c: Configuration, directory: TestDirectory) async throws -> Result {
        let logger = benchLogger("hub-bench-device")
        _ = raiseOpenFileLimit(to: 65_536)
        let broker = try await MosquittoBroker.started(directory: directory, extraConfig: IngestBenchmark.brokerConfig)
        defer { broker.stop() }

        // The device is agent 0 of a one-customer market (its order assigned to it); the fleet's riders are added.
        let path = directory.path("device.db")
        let market = try await PreparedMarket.create(path: path, customers: 1, agents: 1, logger: logger)
        let riders = FleetCommand.riderIDs(count: c.otherAgents, prefix: "sim-")
        do {
            let store = try SQLiteHubStore(path: path, logger: logger)
            defer { store.close() }
            for id in riders { _ = try await store.createAgent(id: id, name: nil) }
        }
        let hub = try await HubProcess(database: "sqlite:" + path, mqttPort: broker.port, directory: directory)
        defer { hub.stop() }
        try await waitUntil("hub connected to the broker", timeout: .seconds(20)) {
            try LoopbackHTTP.get(port: hub.httpPort, path: "/health").json["broker"] as? String == "connected"
        }
        let token = try await market.signIn(port: hub.httpPort)[0]

        // gpsd with the receiver plugged in, a plain client watching it, and the device's agent.
        let gpsd = GpsdDaemon(directory: directory)
        try await gpsd.start()
        defer { gpsd.stop() }
        let receiver = try FakeReceiver()
        try gpsd.add(receiver.path)
        let watcher = try GpsdWatcher(port: gpsd.port)
        defer { watcher.stop() }
        let agent = AgentProcess(
            agentID: BenchAgent.id(0), directory: directory, mqttPort: broker.port, gpsdPort: gpsd.port,
            logLevel: "warning")
        try agent.start()
        defer { agent.process?.stop(timeout: .seconds(10)) }

        // The fleet, as `make demo` runs it.
        let fleet = try ManagedProcess(
            name: "dabba-sim-fleet", executable: try siblingBinary("dabba-sim"),
            arguments: [
                "fleet", "--agents", "\(c.otherAgents)", "--id-prefix", "sim-", "--mqtt-port", "\(broker.port)",
                "--report", "10",
            ], logDirectory: directory.url)
        defer { fleet.stop(timeout: .seconds(10)) }

        // The customer's feed.
        let frames = FrameLog()
        let feed = Task {
            var headers = HTTPFields()
            headers[.authorization] = "Bearer " + token
            try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(hub.httpPort)/v1/orders/\(PreparedMarket.orderID(0))/live",
                configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers), logger: logger
            ) { inbound, _, _ in
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    let now = ContinuousClock.now
                    guard case .text(let text) = message else { continue }
                    frames.opened()
                    if let ms = CustomerFeeds.positionTime(text) { frames.record(ms, at: now) }
                }
            }
        }
        defer { feed.cancel() }

        func metric(_ name: String) throws -> Double {
            metricValue(try LoopbackHTTP.get(port: hub.httpPort, path: "/metrics").text, name) ?? 0
        }
        try await waitUntil("the customer's feed open", timeout: .seconds(30)) { frames.isOpen }
        try await waitUntil(
            "\(c.otherAgents + 1) agents online (the fleet and the device)", timeout: .seconds(120),
            interval: .milliseconds(250)
        ) {
            guard fleet.isRunning, agent.process?.isRunning == true else {
                throw BenchError("the fleet or the agent exited: \(fleet.output().suffix(500))")
            }
            return try metric("dabba_agents_online") >= Double(c.otherAgents)
        }
        let agentsOnline = Int(try metric("dabba_agents_online"))
        say("  \(agentsOnline) agents online; the device's receiver starts (\(c.warmUp) warm-up fixes)")

        // The receiver: one fix every `interval`, stamped now, walking north-east from the restaurant.
        let clock = ContinuousClock()
        let sent = Mutex<[(ms: Int64, at: ContinuousClock.Instant)]>([])
        let start = clock.now + .milliseconds(200)
        var committedBefore = 0.0
        var cpuBefore = 0.0
        var measureStart = start
        for i in 0..<(c.warmUp + c.fixes) {
            if i == c.warmUp {
                committedBefore = try metric("dabba_ingest_committed_total")
                cpuBefore = hub.cpuSeconds()
                measureStart = clock.now
            }
            try await Task.sleep(until: start + c.interval * i, clock: clock)
            let point = RoutePoint(
                timeMilliseconds: wallClockMilliseconds(), latitude: 22.3300 + Double(i) * 2e-5,
                longitude: 87.3200 + Double(i) * 2e-5, altitude: 30, speed: 3, track: 45)
            let sentence = NMEA.sentences(for: [point])
            let at = clock.now
            guard try receiver.write(sentence) == sentence.utf8.count else {
                throw BenchError("gpsd is not reading the receiver")
            }
            if i >= c.warmUp { sent.withLock { $0.append((point.timeMilliseconds, at)) } }
        }
        let measured = sent.withLock { $0 }
        _ = try? await waitUntil("the last frames", timeout: .seconds(10), interval: .milliseconds(50)) {
            measured.allSatisfy { frames.instant($0.ms) != nil }
        }
        let seconds = (clock.now - measureStart).seconds
        let committed = try metric("dabba_ingest_committed_total") - committedBefore
        let cpu = hub.cpuSeconds() - cpuBefore
        fleet.stop(timeout: .seconds(10))

        var gpsdToCustomer: [Double] = []
        var receiverToCustomer: [Double] = []
        var receiverToGpsd: [Double] = []
        var notReported = 0
        var lost = 0
        for fix in measured {
            let frame = frames.instant(fix.ms)
            guard let report = watcher.instant(fix.ms) else {
                notReported += 1
                continue
            }
            receiverToGpsd.append((report - fix.at).inMilliseconds)
            guard let frame else {
                lost += 1
                continue
            }
            gpsdToCustomer.append((frame - report).inMilliseconds)
            receiverToCustomer.append((frame - fix.at).inMilliseconds)
        }
        let fleetLines = fleet.output().split(separator: "\n").filter { $0.contains("dabba-sim fleet:") }
        return Result(
            gpsdToCustomer: LatencySummary(milliseconds: gpsdToCustomer, missed: lost),
            receiverToCustomer: LatencySummary(milliseconds: receiverToCustomer, missed: lost),
            receiverToGpsd: LatencySummary(milliseconds: receiverToGpsd, missed: notReported),
            notReportedByGpsd: notReported, lost: lost, agentsOnline: agentsOnline,
            hubCommittedPerSecond: committed / seconds, hubCPUPercent: 100 * cpu / seconds,
            fleetSummary: fleetLines.last.map(String.init) ?? "(no summary)", seconds: seconds)
    }
}

/// Arrival instants of the customer's position frames by fix time (ms).
final class FrameLog: Sendable {
    private let frames = Mutex<[Int64: ContinuousClock.Instant]>([:])
    private let open = Atomic<Bool>(false)

    func opened() { open.store(true, ordering: .releasing) }
    var isOpen: Bool { open.load(ordering: .acquiring) }
    func record(_ ms: Int64, at instant: ContinuousClock.Instant) {
        frames.withLock { if $0[ms] == nil { $0[ms] = instant } }
    }
    func instant(_ ms: Int64) -> ContinuousClock.Instant? { frames.withLock { $0[ms] } }
}

/// A plain gpsd client (`?WATCH={"enable":true,"json":true}` over TCP, as `gpspipe -w` does) on a thread of its own,
/// recording when each TPV with a time arrives: gpsd's own report, the baseline the device's path is measured from.
final class GpsdWatcher: Sendable {
    private let fd: Int32
    private let reports = FrameLog()
    private let stopping = Atomic<Bool>(false)

    init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket(): errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw BenchError("connect to gpsd on \(port): errno \(errno)")
        }
        // A receive timeout, so the thread sees `stop()` within a second.
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let watch = Array(#"?WATCH={"enable":true,"json":true};"#.utf8)
        guard watch.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == watch.count else {
            close(fd)
            throw BenchError("could not send ?WATCH to gpsd")
        }
        self.fd = fd
        NativeThread.detach(name: "bench-gpsd-watch") { [self] in readReports() }
    }

    func instant(_ ms: Int64) -> ContinuousClock.Instant? { reports.instant(ms) }

    func stop() { stopping.store(true, ordering: .releasing) }

    private func readReports() {
        defer { close(fd) }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while !stopping.load(ordering: .acquiring) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            let now = ContinuousClock.now
            if n == 0 { return }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                return
            }
            pending.append(contentsOf: buffer[0..<n])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                guard line.contains(#""class":"TPV""#), let range = line.range(of: #""time":""#),
                    let end = line[range.upperBound...].firstIndex(of: "\""),
                    let ms = Timestamp.parse(String(line[range.upperBound..<end]))
                else { continue }
                reports.record(ms, at: now)
            }
        }
    }
}
