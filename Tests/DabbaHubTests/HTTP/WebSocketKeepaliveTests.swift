import DabbaTestSupport
import Foundation
import HummingbirdTesting
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import DabbaHub

/// The hub's own WebSocket pings (``WebSocketKeepalive``, hummingbird-websocket's auto-ping is off): a client that
/// answers stays connected, one that does not is closed and counted.
///
/// The rule itself (ping every period, close when the last ping is unanswered at the next) is checked on an
/// `EmbeddedChannel` whose clock the test advances, so no scheduler is involved; the live test checks the handler is
/// installed on every hub WebSocket with clients whose answers do not depend on the test's task pool.
struct WebSocketKeepaliveTests {
    static let period: Duration = .seconds(30)

    /// A connected embedded channel with the keepalive installed, and the hub metrics it counts in.
    func keepaliveChannel() throws -> (EmbeddedChannel, HubMetrics) {
        let metrics = HubMetrics()
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        try channel.pipeline.syncOperations.addHandler(
            WebSocketKeepalive(period: Self.period, timeouts: metrics.webSocketPingTimeouts))
        return (channel, metrics)
    }

    /// The ping written since the last call, if any, with its 8-byte counter.
    func ping(_ channel: EmbeddedChannel) throws -> UInt64? {
        guard let frame = try channel.readOutbound(as: WebSocketFrame.self) else { return nil }
        #expect(frame.opcode == .ping && frame.fin)
        #expect(frame.data.readableBytes == 8)
        return frame.data.getInteger(at: frame.data.readerIndex, as: UInt64.self)
    }

    func pong(_ channel: EmbeddedChannel, _ payload: UInt64) throws {
        var data = channel.allocator.buffer(capacity: 8)
        data.writeInteger(payload)
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .pong, data: data))
        let passedOn = try channel.readInbound(as: WebSocketFrame.self)
        #expect(passedOn?.opcode == .pong, "every frame goes on to hummingbird-websocket")
    }

    @Test func pingsEveryPeriodAndKeepsAPeerThatAnswers() throws {
        let (channel, metrics) = try keepaliveChannel()
        let loop = channel.embeddedEventLoop
        loop.advanceTime(by: TimeAmount(Self.period) - .seconds(1))
        #expect(try ping(channel) == nil, "no ping before the period")
        loop.advanceTime(by: .seconds(1))
        var counters: [UInt64] = []
        for _ in 0..<5 {
            let sent = try #require(try ping(channel))
            counters.append(sent)
            try pong(channel, sent)
            loop.advanceTime(by: TimeAmount(Self.period))
        }
        #expect(counters == [1, 2, 3, 4, 5])
        #expect(channel.isActive)
        #expect(!metrics.render().contains("dabba_ws_ping_timeouts_total 1"))
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func closesAPeerThatMissesAPingOrAnswersWithTheWrongPayload() throws {
        let (silent, silentMetrics) = try keepaliveChannel()
        silent.embeddedEventLoop.advanceTime(by: TimeAmount(Self.period))
        #expect(try ping(silent) == 1)
        silent.embeddedEventLoop.advanceTime(by: TimeAmount(Self.period) - .seconds(1))
        #expect(silent.isActive, "open until the next ping is due")
        silent.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!silent.isActive, "closed when the next ping found the last one unanswered")
        #expect(try ping(silent) == nil, "no ping on the way out")
        #expect(silentMetrics.render().contains("dabba_ws_ping_timeouts_total 1"), "\(silentMetrics.render())")

        let (wrong, wrongMetrics) = try keepaliveChannel()
        wrong.embeddedEventLoop.advanceTime(by: TimeAmount(Self.period))
        let sent = try #require(try ping(wrong))
        try pong(wrong, sent &+ 1)  // an answer to some other ping does not count
        wrong.embeddedEventLoop.advanceTime(by: TimeAmount(Self.period))
        #expect(!wrong.isActive)
        #expect(wrongMetrics.render().contains("dabba_ws_ping_timeouts_total 1"))
    }

    /// A real hub: both raw clients run on threads of their own, so neither depends on the test's task pool. The one
    /// that never answers is pinged and then closed no sooner than 2 periods after it connected, and counted; the
    /// one that answers every ping stays, and keeps answering until the test has read the count (a client that
    /// stopped answering before that would rightly be closed and counted too).
    @Test func onTheHubAClientThatAnswersStaysAndOneThatDoesNotIsClosed() async throws {
        let period: Duration = .seconds(2)
        let h = try HubHarness()
        defer { h.close() }
        var components = try await HubComponents.make(
            configuration: h.configuration, store: h.store, logger: h.logger, bcryptCost: 4)
        components.webSocketKeepalive = period
        let hub = components
        let app = buildApplication(hub: hub, logger: h.logger)
        try await app.test(.live) { client in
            let op = Identity(userID: 1, role: .operator)
            let port = try #require(client.port)
            let path = { "/v1/fleet/live?ticket=\(try hub.auth.issueTicket(for: op))" }
            let answering = try RawWebSocket(port: port, path: try path())
            let silent = try RawWebSocket(port: port, path: try path())
            async let answered = answering.run(answerPings: true, for: period * 4 + TestDeadline.generous)
            let closed = await silent.run(answerPings: false, for: period * 2 + TestDeadline.generous)
            // The answering client has answered through at least 4 pings (4 periods) and is still answering.
            #expect(await eventually { answering.pingsSeen >= 4 }, "pinged \(answering.pingsSeen) times")
            let metrics = hub.metrics.render()
            answering.stop()
            let stayed = await answered

            #expect(stayed.upgraded && closed.upgraded, "\(stayed.head) / \(closed.head)")
            #expect(!stayed.closedByHub, "the hub closed a client that answered \(stayed.pings) pings")
            #expect(stayed.texts == 1, "the snapshot only (pings are not messages)")
            #expect(closed.closedByHub, "the hub kept a client that never answers its pings")
            #expect(closed.pings >= 1, "no ping before the close")
            #expect(closed.elapsed >= period * 2 - .milliseconds(100), "closed before it missed a ping: \(closed)")
            #expect(metrics.contains("dabba_ws_ping_timeouts_total 1"), "\(metrics)")
        }
    }
}

/// What a ``RawWebSocket`` saw.
struct RawOutcome: Sendable {
    var head = ""
    var upgraded: Bool { head.hasPrefix("HTTP/1.1 101") }
    var pings = 0
    var texts = 0
    /// The payloads of the pongs the hub sent.
    var pongs: [[UInt8]] = []
    /// The status code of the hub's close frame (nil: none, or one without a code).
    var closeCode: UInt16?
    var closedByHub = false
    var elapsed: Duration = .zero
}

/// A WebSocket client on a plain blocking socket, run on a thread of its own: it sends the upgrade request, then
/// reads frames (the server's are unmasked), answering each ping with a masked pong when asked to, and sending the
/// frames it was given once the first text frame arrived.
final class RawWebSocket: Sendable {
    let fd: Int32
    private let stopped = Mutex(false)
    private let pings = Mutex(0)

    /// Pings received so far (while running).
    var pingsSeen: Int { pings.withLock { $0 } }

    /// Ends the run at its next read (within 200 ms).
    func stop() { stopped.withLock { $0 = true } }

    init(port: Int, path: String) throws {
        // Reads time out every 200 ms so that the thread can notice the end of its run.
        fd = try FreePort.connectedSocket(port: port, timeout: 0.2)
        let request =
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw TestSupportError("send: errno \(errno)") }
    }

    deinit { _ = Glibc.close(fd) }

    /// Runs until the hub closes the connection, ``stop()`` or `duration` passes; sends `afterFirstText` (opcode,
    /// payload; masked) once the first text frame arrived.
    func run(answerPings: Bool, for duration: Duration, afterFirstText: [(UInt8, [UInt8])] = []) async -> RawOutcome {
        let script = afterFirstText.map { RawFrame(opcode: $0.0, payload: $0.1) }
        return await withCheckedContinuation { (done: CheckedContinuation<RawOutcome, Never>) in
            Thread.detachNewThread {
                done.resume(returning: self.loop(answerPings: answerPings, for: duration, afterFirstText: script))
            }
        }
    }

    struct RawFrame: Sendable {
        var opcode: UInt8
        var payload: [UInt8]
    }

    private func loop(answerPings: Bool, for duration: Duration, afterFirstText: [RawFrame]) -> RawOutcome {
        let start = ContinuousClock.now
        var outcome = RawOutcome()
        var buffer: [UInt8] = []
        var headDone = false
        var chunk = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now - start < duration, !stopped.withLock({ $0 }) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                outcome.closedByHub = true
                break
            }
            if n > 0 { buffer += chunk[..<n] }
            if !headDone, let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                outcome.head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<end.upperBound)
                headDone = true
            }
            while headDone, let frame = Self.takeFrame(&buffer) {
                switch frame.opcode {
                case 0x9:
                    outcome.pings += 1
                    pings.withLock { $0 += 1 }
                    if answerPings { sendFrame(opcode: 0xA, frame.payload) }
                case 0x1:
                    outcome.texts += 1
                    if outcome.texts == 1 {
                        for frame in afterFirstText { sendFrame(opcode: frame.opcode, frame.payload) }
                    }
                case 0xA: outcome.pongs.append(frame.payload)
                case 0x8:
                    if frame.payload.count >= 2 {
                        outcome.closeCode = UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1])
                    }
                    outcome.closedByHub = true
                default: break
                }
            }
            if outcome.closedByHub { break }
        }
        outcome.elapsed = ContinuousClock.now - start
        return outcome
    }

    /// One whole unmasked frame from the front of `buffer`, if it is all there.
    static func takeFrame(_ buffer: inout [UInt8]) -> (opcode: UInt8, payload: [UInt8])? {
        guard buffer.count >= 2 else { return nil }
        var length = Int(buffer[1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard buffer.count >= 4 else { return nil }
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            offset = 4
        } else if length == 127 {
            guard buffer.count >= 10 else { return nil }
            length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        guard buffer.count >= offset + length else { return nil }
        let frame = (buffer[0] & 0x0F, Array(buffer[offset..<offset + length]))
        buffer.removeSubrange(..<(offset + length))
        return frame
    }

    /// One final masked frame with `opcode` and `payload` (up to 125 bytes).
    private func sendFrame(opcode: UInt8, _ payload: [UInt8]) {
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        var frame: [UInt8] = [0x80 | opcode, 0x80 | UInt8(payload.count)] + mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        _ = send(fd, frame, frame.count, Int32(MSG_NOSIGNAL))
    }
}
