import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Loopback ports chosen by the test.
///
/// Each port is handed out once per process and comes from below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`, 32768–60999 on Debian), so tests running in parallel never share a port — a test
/// that frees its port on purpose (gpsd killed and restarted on the same port, a broker restart) cannot have it
/// picked up by another test — and no outgoing connection's local port can collide with it either.
public enum FreePort {
    static let range = 20_000..<32_000
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port no other caller in this process got, bindable on 127.0.0.1 right now.
    public static func next() -> Int {
        for _ in 0..<1_000 {
            let candidate = Int.random(in: range)
            let fresh = handedOut.withLock { $0.insert(candidate).inserted }
            if fresh && isBindable(candidate) { return candidate }
        }
        preconditionFailure("no free loopback port in \(range) after 1000 attempts")
    }

    /// True when 127.0.0.1:`port` can be bound (nothing listens or holds it).
    static func isBindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// True when something listens on 127.0.0.1:`port` (TCP connect succeeds).
    public static func isListening(_ port: Int, host: String = "127.0.0.1") -> Bool {
        guard let fd = try? connectedSocket(port: port, host: host) else { return false }
        close(fd)
        return true
    }

    /// A TCP socket connected to `host`:`port` (the caller closes it), with `timeout` on each read and write when
    /// given.
    public static func connectedSocket(port: Int, host: String = "127.0.0.1", timeout: TimeInterval? = nil) throws
        -> Int32
    {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket() failed: errno \(errno)") }
        if let timeout {
            var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = errno
            close(fd)
            throw TestSupportError("connect to \(host):\(port) failed: errno \(error)")
        }
        return fd
    }

    /// Polls until `port` listens or `timeout` passes (bounded).
    public static func waitUntilListening(_ port: Int, timeout: Duration = TestDeadline.generous) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if isListening(port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        if isListening(port) { return }  // once more: the sleep may have overslept the deadline (a busy machine)
        throw TestSupportError("nothing listens on 127.0.0.1:\(port) after \(timeout)")
    }
}

/// An error raised by the test helpers themselves.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
