import HubModel
import Synchronization

/// One open order feed: its ``OrderLiveView``, the inbox the event bus and the fleet feed post into, and those
/// subscriptions.
///
/// `@unchecked Sendable`: the view is used only by the feed's writer, and the ``OrderFeedInbox`` lets one writer run
/// at a time (its mutex orders one writer's work before the next's); the subscriptions are behind a mutex, since
/// ``end()`` runs on the feed's connection task.
///
/// A class, with its work in synchronous `@inline(never)` methods, on purpose: a task keeps the memory of its
/// deepest async frames for as long as it runs, and values built inside an async function (the view, a frame and
/// its JSON) end up in its async frame. Kept out, they live on the thread's stack for the call only.
final class OrderFeedSession: @unchecked Sendable {
    let inbox: OrderFeedInbox
    /// Why the viewer may no longer see the feed (a sentence for the close frame), nil while they may: the share
    /// link's validity, or the signed-in viewer's token and right to see the order. Asked before every status
    /// change is written and on every `.recheck`.
    let accessEnded: @Sendable () async -> String?
    /// How often ``accessEnded`` is asked while nothing else happens.
    let recheckEvery: Duration
    /// The signed-in viewer's access token (it lapses at its expiry); nil for a share link.
    let credential: Identity.Credential?
    private var view: OrderLiveView
    private let feed: FleetFeed
    private let subscriptions: Mutex<(events: OrderEventBus.Subscription?, watching: FleetFeed.Watch?)>

    init(
        view: OrderLiveView, inbox: OrderFeedInbox, events: OrderEventBus.Subscription, feed: FleetFeed,
        recheckEvery: Duration, credential: Identity.Credential?, accessEnded: @escaping @Sendable () async -> String?
    ) {
        self.view = view
        self.inbox = inbox
        self.feed = feed
        self.recheckEvery = recheckEvery
        self.credential = credential
        self.accessEnded = accessEnded
        subscriptions = Mutex((events, nil))
    }

    private var snapshotTaken = false

    /// The first frame, as text, the first time only (the feed's first writer writes it).
    @inline(never) func takeSnapshot() -> String? {
        guard !snapshotTaken else { return nil }
        snapshotTaken = true
        return Self.text(view.snapshot)
    }

    /// The frame an order event makes (nil when it changes nothing); follows a new agent's fixes from then on.
    @inline(never) func apply(_ event: OrderEvent, card: OrderLiveView.AgentCard?) -> String? {
        let frame = view.apply(event, card: card)
        watchAgent()
        return frame.map(Self.text)
    }

    /// The frame a fix makes (nil unless it is the watched agent's newer fix).
    @inline(never) func apply(_ fix: StoredPosition) -> String? { view.apply(fix).map(Self.text) }

    /// Watches the fixes of the agent the view wants now (none, or a different one after an event); nothing once
    /// the feed ended.
    @inline(never) func watchAgent() {
        let agent = view.watchedAgent
        let inbox = inbox
        let feed = feed
        let (stale, started) = subscriptions.withLock { s -> (FleetFeed.Watch?, Bool) in
            guard s.events != nil, s.watching?.agent != agent else { return (nil, false) }
            let old = s.watching
            s.watching = agent.map { agent in
                feed.watch(agent: agent) { update in
                    if case .position(let p) = update { inbox.post(.position(p)) }
                }
            }
            return (old, agent != nil)
        }
        stale?.cancel()
        // A new rider: their last known position now, not only from their next fix (the watch sees fixes published
        // from now on; one published just before is the latest already). Posted after the watch started, so a fix
        // arriving meanwhile is not missed either; the view keeps whichever is newer.
        if started, let agent, let latest = feed.latestPosition(agent: agent) {
            inbox.post(.position(latest))
        }
    }

    /// Ends the subscriptions and the inbox (idempotent).
    func end() {
        let (events, watching) = subscriptions.withLock { s in
            defer { s = (nil, nil) }
            return s
        }
        events?.cancel()
        watching?.cancel()
        inbox.finish()
    }

    static func text(_ frame: OrderLiveView.Frame) -> String { String(decoding: frame.jsonBytes(), as: UTF8.self) }
}
