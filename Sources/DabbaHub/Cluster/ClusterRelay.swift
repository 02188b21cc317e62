import DabbaCore
import DabbaMQTT
import DabbaProtocol
import HubModel
import Logging
import Synchronization

/// The cluster relay of positions and agent states (`ingest-group` set): every hub ingests only its share of the
/// agents' messages (`$share/{ingest-group}/…`), so each relays what its ingest published to its own ``FleetFeed``
/// on `dabba/v1/hubs/{hub}/fleet`, and hands what the other hubs relay to its feed — so every hub's
/// `/v1/fleet/live` and customers' order feeds show the whole fleet.
///
/// Over MQTT rather than PostgreSQL `LISTEN/NOTIFY`: the broker is already every hub's live path (order events are
/// relayed the same way), it works on SQLite as on PostgreSQL, it adds no load to the database (whose commit rate
/// is what limits ingest), and NOTIFY payloads are capped at 8,000 bytes and serialised through one queue per
/// database. Coalesced like the feed itself: the outbox keeps the newest position (by fix time, then seq) and the
/// newest state (by receive time) per agent and is flushed every ``flushInterval`` in messages of at most
/// ``maxEntries`` entries, so the relay's message rate does not grow with the fix rate. Receiving goes through the
/// feed's own ordering (``FleetFeed/publish(position:)``, ``FleetFeed/publish(state:at:)``): a relayed position
/// never takes an agent backwards, a state received earlier than the one shown is dropped, and a hub ignores its own
/// topic (which it subscribes to with MQTT 5 no-local, so the broker does not send it back in the first place).
/// Another hub's payload is untrusted bytes: ``RelayMessage/parse(_:hub:)`` bounds and checks it; refusals are
/// counted in `dabba_relay_rejected_total{reason}`.
package final class ClusterRelay: Sendable {
    /// Subscribed by every hub, never shared: each hub needs every other hub's updates.
    package static let filter = "\(Topics.prefix)/hubs/+/fleet"
    /// What every relay topic starts with.
    static let topicPrefix = "\(Topics.prefix)/hubs/"
    /// How long an update waits in the outbox at most (the latency the relay adds to another hub's feeds).
    package static let flushInterval: Duration = .milliseconds(20)
    /// Positions plus states in one relay message (≈ 400 bytes each at most: well under ``RelayMessage/maxPayload``).
    package static let maxEntries = 400

    /// This hub's id (the last level of its relay topic and of its MQTT client id).
    package let hub: String
    let mqtt: MQTTClient
    let feed: FleetFeed
    let metrics: HubMetrics
    let logger: Logger
    private let outbox = Mutex(Outbox())
    /// When each reject reason was last logged (monotonic ms); reasons are a short fixed set.
    private let lastLog = Mutex<[String: Int64]>([:])

    /// Updates waiting for the next flush, coalesced per agent.
    struct Outbox {
        var positions: [String: StoredPosition] = [:]
        var states: [String: RelayedState] = [:]
        var isEmpty: Bool { positions.isEmpty && states.isEmpty }
    }

    package init(hub: String, mqtt: MQTTClient, feed: FleetFeed, metrics: HubMetrics, logger: Logger) {
        self.hub = hub
        self.mqtt = mqtt
        self.feed = feed
        self.metrics = metrics
        self.logger = logger
    }

    /// The topic hub `hub` relays on.
    package static func topic(hub: String) -> String { "\(Topics.prefix)/hubs/\(hub)/fleet" }

    /// The hub a relay topic names; nil when `topic` is not one.
    static func hub(of topic: String) -> String? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "dabba", parts[1] == "v1", parts[2] == "hubs", parts[4] == "fleet" else {
            return nil
        }
        return String(parts[3])
    }

    /// Queues a position this hub's ingest published to its feed (only the newest per agent is relayed).
    package func relay(_ position: StoredPosition) {
        outbox.withLock { box in
            if let queued = box.positions[position.agent], (queued.time, queued.seq) >= (position.time, position.seq) {
                return
            }
            box.positions[position.agent] = position
        }
    }

    /// Queues a state this hub's ingest received at `at` and published to its feed.
    package func relay(_ state: AgentState, at: Int64) {
        outbox.withLock { box in
            if let queued = box.states[state.agent], queued.at > at { return }
            box.states[state.agent] = RelayedState(state: state, at: at)
        }
    }

    /// Flushes the outbox every ``flushInterval`` until cancelled.
    package func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.flushInterval)
            flush()
        }
    }

    /// Publishes everything queued (QoS 1). A refusal (no broker session) is counted in
    /// `dabba_relay_publish_failures_total` and the updates are dropped: the feeds are live views, the next fix or
    /// state of each agent supersedes them, and the database has every committed fix.
    package func flush() {
        let taken = outbox.withLock { box -> Outbox? in
            guard !box.isEmpty else { return nil }
            defer { box = Outbox() }
            return box
        }
        guard let taken else { return }
        let messages = RelayMessage.chunks(
            hub: hub, positions: Array(taken.positions.values), states: Array(taken.states.values),
            maxEntries: Self.maxEntries)
        for message in messages {
            let payload = PayloadCoding.encode(message)
            do {
                _ = try mqtt.publish(topic: Self.topic(hub: hub), payload: payload, qos: .atLeastOnce)
                metrics.relayPublished.increment(by: Int64(message.positions.count + message.states.count))
            } catch {
                metrics.relayPublishFailures.increment()
                logger.warning(
                    "Fleet updates not relayed to the other hubs",
                    metadata: [
                        "relay.entries": "\(message.positions.count + message.states.count)", "error": "\(error)",
                    ])
            }
        }
    }

    /// A message on a relay topic: another hub's updates, handed to this hub's feed after the checks; this hub's
    /// own messages (the broker echoes them) are ignored. Returns how many updates the feed took.
    @discardableResult
    package func received(_ message: MQTTMessage) -> Int {
        guard let sender = Self.hub(of: message.topic) else { return reject("unknown_topic", "\(message.topic)") }
        if sender == hub { return 0 }
        let relayed: RelayMessage
        do throws(PayloadError) {
            relayed = try RelayMessage.parse(message.payload, hub: sender)
        } catch {
            return reject(error.code.rawValue, error.message)
        }
        var taken = 0
        for position in relayed.positions where feed.publish(position: position) { taken += 1 }
        for entry in relayed.states where feed.publish(state: entry.state, at: entry.at) { taken += 1 }
        if !relayed.states.isEmpty { metrics.agentsOnline.record(feed.onlineCount) }
        metrics.relayReceived.increment(by: Int64(relayed.positions.count + relayed.states.count))
        return taken
    }

    /// Counts a refused relay message; logs it at most once a minute per reason.
    private func reject(_ reason: String, _ detail: String) -> Int {
        metrics.relayRejected(reason).increment()
        let now = monotonicMilliseconds()
        let log = lastLog.withLock { seen -> Bool in
            if let last = seen[reason], now - last < 60_000 { return false }
            seen[reason] = now
            return true
        }
        if log {
            logger.warning(
                "Rejected relay message", metadata: ["relay.reason": "\(reason)", "relay.detail": "\(detail)"])
        }
        return 0
    }
}
