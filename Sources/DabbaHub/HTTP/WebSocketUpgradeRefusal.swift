import Hummingbird
import NIOCore
import NIOHTTP1

/// Answers a refused WebSocket upgrade with the hub's error (status and JSON body: 401, 403, 404 …) instead of
/// the bare 400 hummingbird-websocket writes for every refusal.
///
/// When a WebSocket route refuses an upgrade request (``RouterMethods/keptAliveWS``), this handler is put in the
/// connection's pipeline just after the HTTP response encoder, holding the error. hummingbird-websocket then
/// answers the refused upgrade with an empty `400` and closes the connection; on its way out that response is
/// replaced by the error's. Nothing else is ever written on such a connection, and connections that upgrade or
/// never ask to never get the handler.
final class WebSocketUpgradeRefusal: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let error: APIError
    private var replacing = false
    private var done = false

    init(_ error: APIError) { self.error = error }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where !done && head.status == .badRequest:
            replacing = true
            let body = error.body
            var headers = HTTPHeaders()
            for field in error.headers { headers.add(name: field.name.canonicalName, value: field.value) }
            headers.add(name: "content-length", value: String(body.count))
            headers.add(name: "connection", value: "close")
            let status = HTTPResponseStatus(statusCode: Int(error.status.code))
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                promise: promise)
        case .body where replacing:
            promise?.succeed(())
        case .end(let trailers) where replacing:
            replacing = false
            done = true
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: error.body)))), promise: nil)
            context.write(wrapOutboundOut(.end(trailers)), promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }

    /// Puts a refusal carrying `error` into `channel`'s pipeline (after its HTTP response encoder). Does nothing on
    /// a channel without one (an in-process test connection).
    static func install(_ error: APIError, on channel: any Channel) async {
        try? await channel.eventLoop.submit {
            let pipeline = channel.pipeline.syncOperations
            let encoder = try pipeline.handler(type: HTTPResponseEncoder.self)
            try pipeline.addHandler(WebSocketUpgradeRefusal(error), position: .after(encoder))
        }.get()
    }
}
