import DabbaCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A test-side `NOTIFY_SOCKET`: an AF_UNIX datagram socket that collects sd_notify messages.
public final class NotifySocketListener: @unchecked Sendable {
    public let path: String
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let rc = UnixSocketAddress.withAddress(path) { bind(fd, $0, $1) }
        guard fd >= 0, rc == 0 else { throw TestSupportError("cannot bind notify socket \(path)") }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Collects up to `count` messages, waiting at most `timeout` in all.
    public func receive(count: Int, timeout: Duration) -> [String] {
        var result: [String] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while result.count < count, ContinuousClock.now < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { result.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
        }
        return result
    }

    /// Waits (bounded) for a message for which `matches` holds; returns every message seen up to it.
    public func waitFor(timeout: Duration, _ matches: (String) -> Bool) -> [String] {
        var seen: [String] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let batch = receive(count: 1, timeout: .milliseconds(200))
            seen += batch
            if batch.contains(where: matches) { break }
        }
        return seen
    }
}
