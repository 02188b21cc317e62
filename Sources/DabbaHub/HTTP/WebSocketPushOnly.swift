import NIOCore
import NIOWebSocket

/// The client's side of a push-only WebSocket (the customers' order feeds, which read nothing from their clients),
/// answered on the connection's event loop, so that the feed's task need not read the client's frames.
///
/// A task keeps the memory of the deepest async frames it ever ran for as long as it runs. Reading the inbound
/// stream (hummingbird-websocket's iterator, which also answers pings and closes) kept ~3 kB of task memory per open
/// feed (heaptrack at 2,000 feeds), ~30 MB with 10,000 customers' feeds. With this handler after the
/// ``WebSocketKeepalive`` nothing reaches the stream: the feed's task waits on a future instead
/// (``PushOnlyFeedEnd``).
///
/// What it does with the client's frames (RFC 6455):
/// - a ping: answered with a pong carrying its payload (a fragmented ping is a protocol error);
/// - a pong: dropped (the keepalive before it has taken its answer);
/// - text, binary and continuation frames: dropped, as the feed ignored them;
/// - a close: answered with a close echoing its status code (1002 for a malformed one) unless the hub has sent its
///   own already, and the connection is closed once the answer is written; the feed's end follows from the close;
/// - a reserved opcode: a close with 1002 (protocol error), then the connection is closed.
///
/// It also watches the frames the hub writes: once a close went out (the hub ending the feed, with 1008 and the
/// reason, or at shutdown), a second one is not written, and the client's answering close closes the connection.
///
/// It is installed with the keepalive when the feed's handler starts, one event-loop hop after the upgrade
/// (``WebSocketKeepalive/install(on:period:timeouts:pushOnly:)``): a frame that arrives
/// before (a client that pings or closes before its snapshot came) waits unread in hummingbird-websocket's stream
/// and is not answered; the connection still ends when the client closes its socket, or at the keepalive's next
/// unanswered ping. Browsers send neither before the first frame.
final class WebSocketPushOnly: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// A close frame has been written (by the hub, or as this handler's answer).
    private var closeSent = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .ping:
            guard frame.fin else { return close(with: .protocolError, context) }
            guard !closeSent else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong, .text, .binary, .continuation:
            return
        case .connectionClose:
            close(with: Self.answerCode(toCloseWith: frame.unmaskedData), context)
        default:
            close(with: .protocolError, context)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if unwrapOutboundIn(data).opcode == .connectionClose {
            // One close frame per connection: hummingbird-websocket writes its own when the feed's task ends, which
            // is after this handler's answer to the client's close.
            guard !closeSent else {
                promise?.succeed()
                return
            }
            closeSent = true
        }
        context.write(data, promise: promise)
    }

    /// A close frame with `code` (no body when nil), then the connection closed once it is written; when a close
    /// frame went out already (the hub's, or this handler's answer), the connection is closed at once.
    private func close(with code: WebSocketErrorCode?, _ context: ChannelHandlerContext) {
        guard !closeSent else {
            context.close(promise: nil)
            return
        }
        closeSent = true
        var body = context.channel.allocator.buffer(capacity: 2)
        if let code { body.write(webSocketErrorCode: code) }
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: body)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in bound.value.close(promise: nil) }
    }

    /// The status code that answers a close frame with `body`: none for an empty body, the same code when it is
    /// one a peer may send (1000–1003, 1007–1011, 3000–4999), else 1002 (protocol error).
    static func answerCode(toCloseWith body: ByteBuffer) -> WebSocketErrorCode? {
        guard body.readableBytes > 0 else { return nil }
        guard body.readableBytes >= 2, let raw = body.getInteger(at: body.readerIndex, as: UInt16.self) else {
            return .protocolError
        }
        switch raw {
        case 1000...1003, 1007...1011, 3000...4999: return WebSocketErrorCode(codeNumber: Int(raw))
        default: return .protocolError
        }
    }
}

/// The end of a push-only feed (``WebSocketPushOnly``): its task waits on this instead of reading the client's
/// frames. It ends when the connection closes, when the hub ends the feed (``end()``: a write failed, or the
/// viewer's access ended and the close frame was written) or when the task is cancelled.
struct PushOnlyFeedEnd: Sendable {
    private let promise: EventLoopPromise<Void>

    init(channel: any Channel) {
        promise = channel.eventLoop.makePromise(of: Void.self)
        channel.closeFuture.whenComplete { [promise] _ in promise.succeed() }
    }

    /// Ends the feed (idempotent).
    func end() { promise.succeed() }

    /// Returns once the feed ended. A small async frame on purpose: it is what the feed's task keeps while it waits.
    @inline(never) func wait() async {
        await withTaskCancellationHandler {
            _ = try? await promise.futureResult.get()
        } onCancel: {
            promise.succeed()
        }
    }
}
