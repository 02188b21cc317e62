import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 client for the benchmark's two set-up requests (login, WebSocket ticket) to the hub on
/// 127.0.0.1: one request per connection (`Connection: close`), a body read to its `Content-Length` or to EOF, and a
/// 10 s socket timeout on every read and write. Loopback only, by construction: it takes a port, not a URL.
enum LoopbackHTTP {
    struct Response {
        var status: Int
        var body: [UInt8]
        /// The body parsed as a JSON object (empty when it is not one).
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// POSTs `json` to `path` on 127.0.0.1:`port`, with a bearer token when given.
    static func post(port: Int, path: String, json: String, bearer: String? = nil) throws -> Response {
        var head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        head += "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n"
        if let bearer { head += "Authorization: Bearer \(bearer)\r\n" }
        return try exchange(port: port, request: Array((head + "\r\n" + json).utf8))
    }

    /// GETs `path` on 127.0.0.1:`port`, with a bearer token when given.
    static func get(port: Int, path: String, bearer: String? = nil) throws -> Response {
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if let bearer { head += "Authorization: Bearer \(bearer)\r\n" }
        return try exchange(port: port, request: Array((head + "\r\n").utf8))
    }

    private static func exchange(port: Int, request: [UInt8]) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("http: socket() failed, errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw BenchError("http: connect to 127.0.0.1:\(port) failed, errno \(errno)") }
        var offset = 0
        while offset < request.count {
            let n = request[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw BenchError("http: send failed, errno \(errno)") }
            offset += n
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while bytes.count < 4 << 20 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw BenchError("http: no response within 10 s (errno \(errno))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if let response = parse(bytes) { return response }
        }
        guard let response = parse(bytes, atEOF: true) else { throw BenchError("http: malformed response") }
        return response
    }

    /// The response once its head and whole body are in `bytes`; nil while incomplete. Chunked bodies are not
    /// supported (the hub sends a Content-Length for its JSON responses).
    private static func parse(_ bytes: [UInt8], atEOF: Bool = false) -> Response? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = bytes.indices.dropLast(3).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) }) else {
            return nil
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n")
        guard let statusLine = head.first, statusLine.hasPrefix("HTTP/1."),
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        let body = Array(bytes[(end + 4)...])
        for line in head.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length",
                let length = Int(parts[1].trimmingCharacters(in: .whitespaces))
            else { continue }
            return body.count >= length ? Response(status: status, body: Array(body.prefix(length))) : nil
        }
        return atEOF ? Response(status: status, body: body) : nil
    }
}
