import Hummingbird
import HummingbirdWebSocket
import Metrics
import NIOCore
import NIOWebSocket

/// Keeps the hub's WebSockets open through idle proxies and closes those whose peer vanished (a phone that lost
/// its network sends no FIN), without a task per connection.
///
/// A channel handler placed after the connection's frame decoder: every `period`, on the connection's event loop,
/// it writes a ping carrying a counter, and closes the connection when the peer has not answered the previous ping
/// with its pong by then. Every frame goes on to hummingbird-websocket unchanged. The hub runs it instead of
/// hummingbird-websocket's auto-ping (which it turns off): that one runs a task per connection, ~2 kB, ~6 kB once
/// it has written a ping; with 10,000 customers' feeds, tens of MB (BENCHMARKS.md).
final class WebSocketKeepalive: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// The default ping period (hummingbird-websocket's): a dead peer is found within two periods.
    static let defaultPeriod: Duration = .seconds(30)

    private let period: TimeAmount
    private let timeouts: Counter
    /// The payload of the ping not answered yet.
    private var unanswered: UInt64?
    private var sent: UInt64 = 0
    private var timer: Scheduled<Void>?

    init(period: Duration, timeouts: Counter) {
        self.period = TimeAmount(period)
        self.timeouts = timeouts
    }

    func handlerAdded(context: ChannelHandlerContext) { schedule(context) }

    func handlerRemoved(context: ChannelHandlerContext) { stop() }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.opcode == .pong, let unanswered {
            let payload = frame.unmaskedData
            if payload.readableBytes == 8, payload.getInteger(at: payload.readerIndex, as: UInt64.self) == unanswered {
                self.unanswered = nil
            }
        }
        context.fireChannelRead(data)
    }

    private func stop() {
        timer?.cancel()
        timer = nil
    }

    private func schedule(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: period) {
            let (handler, context) = bound.value
            handler.tick(context)
        }
    }

    private func tick(_ context: ChannelHandlerContext) {
        timer = nil
        guard context.channel.isActive else { return }
        if unanswered != nil {
            timeouts.increment()
            context.close(promise: nil)
            return
        }
        sent &+= 1
        unanswered = sent
        var payload = context.channel.allocator.buffer(capacity: 8)
        payload.writeInteger(sent)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: payload)), promise: nil)
        schedule(context)
    }

    /// Adds a keepalive to an upgraded WebSocket connection, after its frame decoder, and for a push-only route a
    /// ``WebSocketPushOnly`` after it, in the same event-loop hop.
    static func install(on channel: any Channel, period: Duration, timeouts: Counter, pushOnly: Bool = false)
        async throws
    {
        try await channel.eventLoop.submit {
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            let keepalive = WebSocketKeepalive(period: period, timeouts: timeouts)
            let handlers: [any ChannelHandler] = pushOnly ? [keepalive, WebSocketPushOnly()] : [keepalive]
            try pipeline.addHandlers(handlers, position: .after(decoder))
        }.get()
    }
}

extension RouterMethods where Context == HubRequestContext {
    /// A WebSocket route whose connections get a ``WebSocketKeepalive`` (the hub turns hummingbird-websocket's
    /// auto-ping off, so every WebSocket route of the hub is added through here). A refused upgrade request is
    /// answered with the refusal's status and JSON error (``WebSocketUpgradeRefusal``), as the same GET without
    /// the upgrade headers is. A GET without them that would have been allowed to upgrade answers 426
    /// `upgrade_required` (hummingbird-websocket would answer an empty 200, which says nothing). A `pushOnly` route
    /// reads nothing from its clients: ``WebSocketPushOnly`` answers their pings and closes on the event loop and
    /// drops their other frames, so its handler must not read `inbound` (it waits on a ``PushOnlyFeedEnd``).
    @discardableResult func keptAliveWS(
        _ path: RouterPath, keepalive: Duration, metrics: HubMetrics, pushOnly: Bool = false,
        shouldUpgrade: @Sendable @escaping (Request, Context) async throws -> RouterShouldUpgrade,
        onUpgrade handler: @escaping WebSocketDataHandler<WebSocketRouterContext<Context>>
    ) -> Self {
        let timeouts = metrics.webSocketPingTimeouts
        let checked: @Sendable (Request, Context) async throws -> RouterShouldUpgrade = { request, context in
            do {
                let decision = try await shouldUpgrade(request, context)
                if case .upgrade = decision, request.headers[.upgrade]?.lowercased() != "websocket" {
                    throw APIError.upgradeRequired()
                }
                return decision
            } catch {
                if request.headers[.upgrade]?.lowercased() == "websocket" {
                    let refusal = ErrorMiddleware.apiError(for: error, maxBody: context.maxUploadSize)
                    await WebSocketUpgradeRefusal.install(refusal, on: context.channel)
                }
                throw error
            }
        }
        return ws(path, shouldUpgrade: checked) { inbound, outbound, context in
            try await WebSocketKeepalive.install(
                on: context.requestContext.channel, period: keepalive, timeouts: timeouts, pushOnly: pushOnly)
            try await handler(inbound, outbound, context)
        }
    }
}
