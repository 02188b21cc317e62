import DabbaCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A scripted stand-in for gpsd on 127.0.0.1:`port`, for input real gpsd never sends (garbage, truncated or
/// wrong-typed JSON, over-long lines) and for precise timing.
///
/// Like gpsd it sends a VERSION line on connect, waits for `?WATCH=…`, answers with DEVICES and WATCH, then plays
/// the script for that connection; afterwards it keeps the connection open until the client leaves, the script
/// says `.close`, `closeConnection()` or `stop()`. One client at a time, on one dedicated thread with blocking
/// sockets and bounded waits.
public final class FakeGpsd: Sendable {
    /// One scripted action.
    public enum Step: Sendable {
        /// Sends `text` plus `\n`.
        case line(String)
        /// Sends `text` exactly (no newline added).
        case raw(String)
        /// Waits.
        case pause(Duration)
        /// Waits until `condition` returns true, asking every 10 ms (client input is discarded meanwhile): a script
        /// paced by what the client has consumed rather than by the clock.
        case wait(until: @Sendable () -> Bool)
        /// Closes the connection (the script ends).
        case close
    }

    /// The loopback port it listens on.
    public let port: Int
    private let server: FakeGpsdServer

    /// Listens now; `script(n)` gives the steps for the n-th connection (1-based), played after its WATCH.
    public init(script: @escaping @Sendable (Int) -> [Step]) throws {
        var bound: (fd: Int32, port: Int)?
        for _ in 0..<20 where bound == nil { bound = Self.listen(port: FreePort.next()) }
        guard let bound else { throw TestSupportError("FakeGpsd could not listen") }
        port = bound.port
        let server = FakeGpsdServer(listener: bound.fd, script: script)
        self.server = server
        NativeThread.detach(name: "fake-gpsd") { server.serve() }  // the thread holds the server, not self
    }

    /// The same steps for every connection.
    public convenience init(steps: [Step]) throws { try self.init(script: { _ in steps }) }

    /// Connections accepted so far.
    public var connectionCount: Int { server.state.withLock { $0.connections } }
    /// `?WATCH` commands received so far.
    public var watchCount: Int { server.state.withLock { $0.watches } }

    /// Closes the current connection (the client sees EOF); the next one gets its own script.
    public func closeConnection() { server.state.withLock { $0.dropRequested = true } }

    /// Stops serving and closes everything (bounded wait for the thread).
    public func stop() {
        server.state.withLock { $0.stopping = true }
        let deadline = ContinuousClock.now + .seconds(3)
        while !server.state.withLock({ $0.finished }) && ContinuousClock.now < deadline { usleep(10_000) }
    }

    deinit { stop() }  // also when a test forgets: the thread does not keep self alive

    /// A gpsd-style TPV line (time as ISO 8601 with milliseconds, fields omitted when nil, like gpsd).
    public static func tpv(
        time: Int64, latitude: Double, longitude: Double, mode: Int = 3, altitude: Double? = nil,
        speed: Double? = nil, track: Double? = nil, eph: Double? = nil
    ) -> String {
        var fields = [
            "\"class\":\"TPV\"", "\"device\":\"/dev/fake0\"", "\"mode\":\(mode)", "\"time\":\"\(iso8601(time))\"",
            "\"lat\":\(latitude)", "\"lon\":\(longitude)",
        ]
        if let altitude { fields += ["\"altHAE\":\(altitude - 50)", "\"altMSL\":\(altitude)"] }
        if let speed { fields.append("\"speed\":\(speed)") }
        if let track { fields.append("\"track\":\(track)") }
        if let eph { fields.append("\"eph\":\(eph)") }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// `2026-11-25T10:00:00.123Z`.
    public static func iso8601(_ milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, Int32(milliseconds % 1000))
    }

    static let version =
        "{\"class\":\"VERSION\",\"release\":\"3.22\",\"rev\":\"3.22\",\"proto_major\":3,\"proto_minor\":14}"
    static let devices =
        "{\"class\":\"DEVICES\",\"devices\":[{\"class\":\"DEVICE\",\"path\":\"/dev/fake0\",\"driver\":\"NMEA0183\","
        + "\"native\":0,\"bps\":9600,\"parity\":\"N\",\"stopbits\":1,\"cycle\":1.00}]}"
    static let watch =
        "{\"class\":\"WATCH\",\"enable\":true,\"json\":true,\"nmea\":false,\"raw\":0,\"scaled\":false,"
        + "\"timing\":false,\"split24\":false,\"pps\":false}"

    private static func listen(port: Int) -> (Int32, Int)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard ok, Glibc.listen(fd, 4) == 0 else {
            close(fd)
            return nil
        }
        return (fd, port)
    }
}

/// The thread side of a ``FakeGpsd``: the listening socket, the script and the counters.
private final class FakeGpsdServer: Sendable {
    struct State {
        var connections = 0
        var watches = 0
        var stopping = false
        var dropRequested = false
        var finished = false
    }

    let listener: Int32
    let script: @Sendable (Int) -> [FakeGpsd.Step]
    let state = Mutex(State())

    init(listener: Int32, script: @escaping @Sendable (Int) -> [FakeGpsd.Step]) {
        self.listener = listener
        self.script = script
    }

    private var shouldLeave: Bool { state.withLock { $0.stopping || $0.dropRequested } }

    func serve() {
        defer {
            close(listener)
            state.withLock { $0.finished = true }
        }
        while !state.withLock({ $0.stopping }) {
            guard Self.readable(listener, milliseconds: 50) else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            let number = state.withLock { state in
                state.connections += 1
                state.dropRequested = false
                return state.connections
            }
            session(client, steps: script(number))
            close(client)
        }
    }

    /// Plays one connection; returns when it should end.
    private func session(_ client: Int32, steps: [FakeGpsd.Step]) {
        guard send(client, FakeGpsd.version + "\n") else { return }
        var received = ""
        while !received.contains("?WATCH") {  // bounded: 5 s for the client to ask
            guard !shouldLeave, let more = receive(client, milliseconds: 5_000), !more.isEmpty else { return }
            received += more
        }
        state.withLock { $0.watches += 1 }
        guard send(client, FakeGpsd.devices + "\n"), send(client, FakeGpsd.watch + "\n") else { return }
        for step in steps {
            if shouldLeave { return }
            switch step {
            case .line(let text): guard send(client, text + "\n") else { return }
            case .raw(let text): guard send(client, text) else { return }
            case .pause(let duration): guard pause(client, duration) else { return }
            case .wait(let condition): guard wait(client, until: condition) else { return }
            case .close: return
            }
        }
        while !shouldLeave {  // idle: discard what the client sends, notice when it leaves
            if let more = receive(client, milliseconds: 50), more.isEmpty { return }
        }
    }

    /// Waits `duration` unless the client leaves (false) or the server is told to drop it; discards client input.
    private func pause(_ client: Int32, _ duration: Duration) -> Bool {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline && !shouldLeave {
            let left = deadline - ContinuousClock.now
            let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
            if let more = receive(client, milliseconds: Int32(min(50, max(1, milliseconds)))), more.isEmpty {
                return false
            }
        }
        return true
    }

    /// Waits until `condition` holds unless the client leaves (false) or the server is told to drop it.
    private func wait(_ client: Int32, until condition: @Sendable () -> Bool) -> Bool {
        while !condition() {
            if shouldLeave { return false }
            if let more = receive(client, milliseconds: 10), more.isEmpty { return false }
        }
        return true
    }

    /// Sends everything (MSG_NOSIGNAL: a vanished client must not SIGPIPE the test process).
    private func send(_ client: Int32, _ text: String) -> Bool {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes {
                Glibc.send(client, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Up to 4 KB within `milliseconds`: nil when nothing came, "" when the client closed.
    private func receive(_ client: Int32, milliseconds: Int32) -> String? {
        guard Self.readable(client, milliseconds: milliseconds) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
        return n <= 0 ? "" : String(decoding: buffer[0..<n], as: UTF8.self)
    }

    static func readable(_ fd: Int32, milliseconds: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, milliseconds) > 0
    }
}
