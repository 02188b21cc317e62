#if canImport(Glibc)
    import Glibc
#endif

/// A Unix-domain stream socket's address and line reads, for the agent's control socket and the tests' clients of
/// gpsd's control socket.
package enum UnixSocketAddress {
    /// Calls `body` with a `sockaddr_un` for `path`.
    package static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            errno = ENAMETOOLONG
            return -1
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        return withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// Reads up to a newline (excluded); nil past `deadline` (monotonic ms, for the whole line, so a client
    /// trickling bytes cannot hold the server), on EOF before a newline, or past `max` bytes.
    package static func readLine(_ fd: Int32, max: Int, deadline: Int64) -> [UInt8]? {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while result.count <= max {
            let remaining = deadline - monotonicMilliseconds()
            guard remaining > 0 else { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(remaining)) > 0 else { return nil }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            if let newline = buffer[0..<n].firstIndex(of: UInt8(ascii: "\n")) {
                result.append(contentsOf: buffer[0..<newline])
                return result
            }
            result.append(contentsOf: buffer[0..<n])
        }
        return nil
    }
}
