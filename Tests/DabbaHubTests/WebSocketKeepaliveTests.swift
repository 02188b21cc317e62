import DabbaTestSupport
import Foundation
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import DabbaHub

/// The hub's own WebSocket pings (``WebSocketKeepalive``, hummingbird-websocket's auto-ping is off): a client that
/// answers stays connected, one that does not is closed and counted.
struct WebSocketKeepaliveTests {
    /// A client must answer a ping within one period: long enough for a loaded test machine.
    static let period: Duration = .seconds(1)

    @Test func aClientThatAnswersPingsStaysAndOneThatDoesNotIsClosed() async throws {
        let h = try HubHarness()
        defer { h.close() }
        var components = try await HubComponents.make(
            configuration: h.configuration, store: h.store, logger: h.logger, bcryptCost: 4)
        components.webSocketKeepalive = Self.period
        let hub = components
        let app = buildApplication(hub: hub, logger: h.logger)
        try await app.test(.live) { client in
            let op = Identity(userID: 1, role: .operator)

            // hummingbird-websocket's client answers pings while it reads: it is still connected after 5 periods.
            let started = ContinuousClock.now
            let seen = Seen()
            let closeFrame = try await client.ws("/v1/fleet/live?ticket=\(try hub.auth.issueTicket(for: op))") {
                inbound, outbound, _ in
                let closer = Task {
                    try await Task.sleep(for: Self.period * 5)
                    seen.closedByUs.withLock { $0 = true }
                    try await outbound.close(.normalClosure, reason: nil)
                }
                defer { closer.cancel() }
                for try await _ in inbound.messages(maxSize: 1 << 20) { seen.messages.withLock { $0 += 1 } }
            }
            #expect(seen.closedByUs.withLock { $0 }, "the hub closed an answering client")
            #expect(ContinuousClock.now - started >= Self.period * 5)
            #expect(closeFrame?.closeCode == .normalClosure)
            #expect(seen.messages.withLock { $0 } == 1, "the snapshot only (pings are not messages)")
            #expect(!hub.metrics.render().contains("dabba_ws_ping_timeouts_total 1"))

            // A raw client that completes the upgrade and then never answers: pinged, then closed within ~2 periods.
            let port = try #require(client.port)
            let raw = try RawWebSocket(port: port, path: "/v1/fleet/live?ticket=\(try hub.auth.issueTicket(for: op))")
            defer { raw.close() }
            let received = await raw.readUntilClosed(timeout: Self.period * 2 + .seconds(8))
            #expect(received.closed, "the hub kept a client that never answers its pings")
            #expect(
                received.elapsed >= Self.period * 2 - .milliseconds(100),
                "closed before it missed a ping: \(received.elapsed)")
            #expect(received.text.hasPrefix("HTTP/1.1 101"), "\(received.text.prefix(80))")
            #expect(received.bytes.contains(0x89), "no ping frame (opcode 0x9 with FIN) before the close")
            #expect(hub.metrics.render().contains("dabba_ws_ping_timeouts_total 1"), "\(hub.metrics.render())")
        }
    }
}

/// What the answering client saw.
private final class Seen: Sendable {
    let closedByUs = Mutex(false)
    let messages = Mutex(0)
}

/// A WebSocket client on a plain socket that sends the upgrade request and then only reads (never answers).
private struct RawWebSocket {
    let fd: Int32

    init(port: Int, path: String) throws {
        fd = try FreePort.connectedSocket(port: port, timeout: 5)
        let request =
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw TestSupportError("send: errno \(errno)") }
    }

    /// Reads until the peer closes (read returns 0 or fails other than for want of data) or `timeout` passes;
    /// sleeps between empty reads, so that it holds no thread of the test's pool.
    func readUntilClosed(timeout: Duration) async -> (bytes: [UInt8], text: String, closed: Bool, elapsed: Duration) {
        let start = ContinuousClock.now
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now - start < timeout {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                bytes += buffer[..<n]
            } else if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return (bytes, String(decoding: bytes, as: UTF8.self), true, ContinuousClock.now - start)
            } else {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return (bytes, String(decoding: bytes, as: UTF8.self), false, ContinuousClock.now - start)
    }

    func close() { _ = Glibc.close(fd) }
}
