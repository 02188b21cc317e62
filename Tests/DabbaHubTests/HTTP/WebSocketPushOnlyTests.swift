import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import DabbaHub

/// The client's side of a push-only feed answered on the event loop (``WebSocketPushOnly``): pings answered, other
/// frames dropped, the close handshake completed from either side with exactly one close frame from the hub, and
/// protocol errors closing with 1002. On an `EmbeddedChannel`: no scheduler involved.
struct WebSocketPushOnlyTests {
    func pushOnlyChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        try channel.pipeline.syncOperations.addHandler(WebSocketPushOnly())
        return channel
    }

    func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8] = [], fin: Bool = true, masked: Bool = true)
        -> WebSocketFrame
    {
        var data = ByteBuffer(bytes: bytes)
        let key: WebSocketMaskingKey? = masked ? [0x12, 0x34, 0x56, 0x78] : nil
        if let key { data.webSocketMask(key) }
        return WebSocketFrame(fin: fin, opcode: opcode, maskKey: key, data: data)
    }

    func closeBody(_ code: UInt16) -> [UInt8] { [UInt8(code >> 8), UInt8(code & 0xFF)] }

    /// The status code of a close frame the hub wrote, nil for an empty body.
    func code(of frame: WebSocketFrame) -> UInt16? {
        frame.data.getInteger(at: frame.data.readerIndex, as: UInt16.self)
    }

    @Test func answersAPingWithItsPayloadAndDropsWhatTheFeedDoesNotRead() throws {
        let channel = try pushOnlyChannel()
        try channel.writeInbound(frame(.ping, [1, 2, 3, 4, 5]))
        let pong = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(pong.opcode == .pong && pong.fin)
        #expect(Array(pong.data.readableBytesView) == [1, 2, 3, 4, 5], "the ping's payload, unmasked")
        for opcode in [WebSocketOpcode.text, .binary, .pong] {
            try channel.writeInbound(frame(opcode, Array("hello".utf8)))
            try channel.writeInbound(frame(.continuation, [0], fin: false))
        }
        #expect(try channel.readInbound(as: WebSocketFrame.self) == nil, "nothing reaches the feed's stream")
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil, "dropped frames are not answered")
        #expect(channel.isActive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func aClientsCloseIsEchoedThenTheConnectionCloses() throws {
        let channel = try pushOnlyChannel()
        try channel.writeInbound(frame(.connectionClose, closeBody(1001) + Array("bye".utf8)))
        let answer = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(answer.opcode == .connectionClose)
        #expect(code(of: answer) == 1001, "the client's status code, echoed")
        #expect(!channel.isActive, "closed once the answer was written")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func closesWithoutABodyOrWithABadCodeAreAnsweredAsTheRFCSays() throws {
        let cases: [(body: [UInt8], answer: UInt16?)] = [
            ([], nil),  // no status code: none in the answer
            ([0x03], 1002),  // one byte: malformed
            (closeBody(1000), 1000), (closeBody(1011), 1011), (closeBody(4000), 4000),
            (closeBody(1005), 1002), (closeBody(1006), 1002), (closeBody(999), 1002), (closeBody(5000), 1002),
        ]
        for (body, expected) in cases {
            let channel = try pushOnlyChannel()
            try channel.writeInbound(frame(.connectionClose, body))
            let answer = try #require(try channel.readOutbound(as: WebSocketFrame.self))
            #expect(answer.opcode == .connectionClose)
            #expect(code(of: answer) == expected, "close body \(body)")
            #expect(!channel.isActive)
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
    }

    @Test func afterTheHubsCloseTheClientsAnswerClosesTheConnectionWithoutAnotherFrame() throws {
        let channel = try pushOnlyChannel()
        var body = ByteBuffer()
        body.write(webSocketErrorCode: .policyViolation)
        try channel.writeOutbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: body))
        let hubs = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(code(of: hubs) == 1008, "the hub's own close goes out")
        // hummingbird-websocket writes a close of its own when the feed's task ends: not a second one on the wire.
        try channel.writeOutbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer()))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil, "one close frame per connection")
        try channel.writeInbound(frame(.ping, [9]))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil, "no pong after the hub's close")
        #expect(channel.isActive, "open until the client answers")
        try channel.writeInbound(frame(.connectionClose, closeBody(1008)))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil, "no second close frame")
        #expect(!channel.isActive, "closed on the client's answer")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func aReservedOpcodeOrAFragmentedPingClosesWithAProtocolError() throws {
        for bad in [frame(WebSocketOpcode(encodedWebSocketOpcode: 0x3)!, [1]), frame(.ping, [1], fin: false)] {
            let channel = try pushOnlyChannel()
            try channel.writeInbound(bad)
            let answer = try #require(try channel.readOutbound(as: WebSocketFrame.self))
            #expect(answer.opcode == .connectionClose)
            #expect(code(of: answer) == 1002)
            #expect(!channel.isActive)
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
    }
}
