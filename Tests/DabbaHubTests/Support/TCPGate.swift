import DabbaTestSupport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A loopback TCP forwarder a test opens and closes: while open, every connection to `port` is piped to
/// `127.0.0.1:upstream`; ``close()`` stops listening (new connections are refused) and cuts every piped
/// connection. A hub pointed at the gate can so be kept off a broker that others (a device) already use again.
final class TCPGate: Sendable {
    let port: Int
    let upstream: Int
    private let state = Mutex<(listener: Int32, connections: [Int32])>((-1, []))

    init(port: Int = FreePort.next(), upstream: Int) {
        self.port = port
        self.upstream = upstream
    }

    /// Listens on `port` and forwards; throws when the port cannot be bound.
    func open() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket: errno \(errno)") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            Glibc.close(fd)
            throw TestSupportError("gate cannot listen on \(port): errno \(errno)")
        }
        state.withLock { $0.listener = fd }
        Thread.detachNewThread { self.acceptLoop(fd) }
    }

    /// Stops listening and cuts every forwarded connection (both ends see the peer gone).
    func close() {
        state.withLock { s in
            if s.listener >= 0 {
                shutdown(s.listener, Int32(SHUT_RDWR))
                Glibc.close(s.listener)
                s.listener = -1
            }
            for fd in s.connections { shutdown(fd, Int32(SHUT_RDWR)) }
            s.connections = []
        }
    }

    private func acceptLoop(_ listener: Int32) {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }  // closed
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(upstream)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                Glibc.close(server)
                Glibc.close(client)
                continue
            }
            state.withLock { $0.connections += [client, server] }
            let ends = Mutex(2)
            for (from, to) in [(client, server), (server, client)] {
                Thread.detachNewThread {
                    Self.pump(from: from, to: to)
                    // The second pump to stop closes both sockets (under the lock: `close()` never sees a reused fd).
                    guard
                        ends.withLock({ n in
                            n -= 1
                            return n == 0
                        })
                    else { return }
                    self.state.withLock { s in
                        s.connections.removeAll { $0 == client || $0 == server }
                        Glibc.close(client)
                        Glibc.close(server)
                    }
                }
            }
        }
    }

    private static func pump(from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        copying: while true {
            let n = read(from, &buffer, buffer.count)
            guard n > 0 else { break }
            var offset = 0
            while offset < n {
                let written = buffer[offset..<n].withUnsafeBytes { write(to, $0.baseAddress, n - offset) }
                guard written > 0 else { break copying }
                offset += written
            }
        }
        shutdown(from, Int32(SHUT_RDWR))
        shutdown(to, Int32(SHUT_RDWR))
    }

    private static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    deinit { close() }
}
