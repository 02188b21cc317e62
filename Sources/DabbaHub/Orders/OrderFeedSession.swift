/// One open order feed: its ``OrderLiveView``, the inbox the event bus and the fleet feed post into, and those
/// subscriptions. Used by the feed's one task only.
///
/// A class, with its work in synchronous `@inline(never)` methods, on purpose: a task keeps the memory of its
/// deepest async frames for as long as it runs (10,000 feeds: most of the hub's memory), and values built inside
/// an async function (the view, a frame and its JSON) end up in its async frame, measured at ~6 kB for the
/// feed's writer when they were inlined there. Kept out, they live on the thread's stack for the call only.
final class OrderFeedSession {
    let inbox: OrderFeedInbox
    /// Set when the feed was opened with a share link (re-checked while it is open).
    let shareTokenHash: String?
    private var view: OrderLiveView
    private let events: OrderEventBus.Subscription
    private let feed: FleetFeed
    private var watching: FleetFeed.Watch?

    init(
        view: OrderLiveView, inbox: OrderFeedInbox, events: OrderEventBus.Subscription, feed: FleetFeed,
        shareTokenHash: String?
    ) {
        self.view = view
        self.inbox = inbox
        self.events = events
        self.feed = feed
        self.shareTokenHash = shareTokenHash
    }

    /// The first frame, as text.
    @inline(never) func snapshot() -> String { Self.text(view.snapshot) }

    /// The frame an order event makes (nil when it changes nothing); follows a new agent's fixes from then on.
    @inline(never) func apply(_ event: OrderEvent, card: OrderLiveView.AgentCard?) -> String? {
        let frame = view.apply(event, card: card)
        watchAgent()
        return frame.map(Self.text)
    }

    /// The frame a fix makes (nil unless it is the watched agent's newer fix).
    @inline(never) func apply(_ fix: StoredPosition) -> String? { view.apply(fix).map(Self.text) }

    /// Watches the fixes of the agent the view wants now (none, or a different one after an event).
    @inline(never) func watchAgent() {
        let agent = view.watchedAgent
        guard watching?.agent != agent else { return }
        watching?.cancel()
        watching = nil
        guard let agent else { return }
        let inbox = inbox
        watching = feed.watch(agent: agent) { update in
            if case .position(let p) = update { inbox.post(.position(p)) }
        }
    }

    /// Ends the subscriptions (idempotent).
    func end() {
        events.cancel()
        watching?.cancel()
        watching = nil
    }

    static func text(_ frame: OrderLiveView.Frame) -> String { String(decoding: frame.jsonBytes(), as: UTF8.self) }
}
