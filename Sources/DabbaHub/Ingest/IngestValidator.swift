import DabbaCore
import DabbaMQTT
import DabbaProtocol
import HubModel
import Logging
import Synchronization

/// Checks every incoming message; a bad one is refused with a reason, counted, and logged at most once per agent
/// and reason a minute. Never throws, never blocks ingest for other agents.
package final class IngestValidator: Sendable {
    package enum Outcome: Sendable {
        case positions([StoredPosition])
        case event(DeviceEvent)
        case state(AgentState, at: Int64)
        /// A device asks for its task list (answered by ``IngestService/answerSync(_:)``).
        case sync(TaskSyncRequest)
        case rejected(String)
    }

    /// Largest payload accepted (a backlog message of 1,000 fixes is ~150 KB).
    package static let maxPayload = 256 * 1024
    package static let maxBacklogFixes = 1000

    let owntracksMap: [String: String]
    let metrics: HubMetrics
    let logger: Logger
    private let known = Mutex<(ids: Set<String>, refreshed: Int64)>(([], 0))
    private let lastLog = Mutex<[String: Int64]>([:])

    init(owntracksMap: [String: String], metrics: HubMetrics, logger: Logger) {
        self.owntracksMap = owntracksMap
        self.metrics = metrics
        self.logger = logger
    }

    /// Reloads the set of provisioned agents (at most every 5 s unless forced).
    func refreshAgents(from store: any HubStore, force: Bool = false) async {
        let now = monotonicMilliseconds()
        guard force || known.withLock({ now - $0.refreshed > 5000 }) else { return }
        known.withLock { $0.refreshed = now }
        guard let agents = try? await store.agents() else { return }
        known.withLock { $0.ids = Set(agents.map(\.id)) }
    }

    func isKnown(_ agent: String, store: any HubStore) async -> Bool {
        if known.withLock({ $0.ids.contains(agent) }) { return true }
        await refreshAgents(from: store)
        return known.withLock { $0.ids.contains(agent) }
    }

    func validate(_ message: MQTTMessage, store: any HubStore) async -> Outcome {
        if message.topic.hasPrefix("owntracks/") { return await owntracks(message, store: store) }
        guard let (agent, lane) = Topics.parseAgentTopic(message.topic) else {
            return reject("unknown_topic", agent: "-", "topic \(message.topic)")
        }
        guard message.payload.count <= Self.maxPayload else {
            return reject("too_large", agent: agent, "\(message.payload.count) bytes")
        }
        guard await isKnown(agent, store: store) else {
            return reject("unknown_agent", agent: agent, "not provisioned")
        }
        do throws(PayloadError) {
            guard
                let outcome = try Self.check(
                    lane: lane, payload: message.payload, agent: agent, now: wallClockMilliseconds())
            else { return reject("unknown_topic", agent: agent, "lane \(lane)") }
            return outcome
        } catch {
            return reject(error.code.rawValue, agent: agent, error.message)
        }
    }

    /// The checks of a message on `devices/<agent>/<lane>` from a provisioned agent, without the store, metrics or
    /// log: what ``validate(_:store:)`` runs after the topic, size and agent checks (and what the `ingest` fuzz
    /// target runs). Nil for a lane the hub does not read; throws ``PayloadError`` saying why a payload is refused.
    /// `now` is the time a state message is stamped with.
    package static func check(lane: String, payload: [UInt8], agent: String, now: Int64) throws(PayloadError)
        -> Outcome?
    {
        switch lane {
        case "fix":
            let fix = try Fix.parse(payload, maxBytes: Self.maxPayload)
            return .positions([try position(fix, agent: agent)])
        case "backlog":
            let backlog = try BacklogMessage.parse(payload, maxBytes: Self.maxPayload)
            guard backlog.v == payloadVersion else { throw PayloadError(.unsupportedVersion, "v \(backlog.v)") }
            guard backlog.agent == agent else { throw PayloadError(.agentMismatch, "backlog for \(backlog.agent)") }
            guard backlog.fixes.count <= Self.maxBacklogFixes else {
                throw PayloadError(.tooLarge, "\(backlog.fixes.count) fixes")
            }
            return .positions(try backlog.fixes.map { fix throws(PayloadError) in try position(fix, agent: agent) })
        case "events":
            let event = try PayloadCoding.decode(AgentEvent.self, from: payload, maxBytes: Self.maxPayload)
            guard event.v == payloadVersion else { throw PayloadError(.unsupportedVersion, "v \(event.v)") }
            guard event.agent == agent else { throw PayloadError(.agentMismatch, "event for \(event.agent)") }
            guard event.seq >= 1, let time = Timestamp.parse(event.time), event.type.isShift || !event.order.isEmpty
            else {
                throw PayloadError(.invalidField, "seq, time or order")
            }
            return .event(
                DeviceEvent(
                    agent: agent, seq: event.seq, time: time, order: event.order, type: event.type.rawValue,
                    payload: payload))
        case "state":
            let state = try PayloadCoding.decode(AgentState.self, from: payload, maxBytes: Self.maxPayload)
            guard state.v == payloadVersion else { throw PayloadError(.unsupportedVersion, "v \(state.v)") }
            guard state.agent == agent else { throw PayloadError(.agentMismatch, "state for \(state.agent)") }
            return .state(state, at: now)
        case "sync":
            return .sync(try TaskSyncRequest.parse(payload, agent: agent))
        default:
            return nil
        }
    }

    /// A fix as stored, after the checks every lane shares.
    package static func position(_ fix: Fix, agent: String) throws(PayloadError) -> StoredPosition {
        guard fix.v == payloadVersion else { throw PayloadError(.unsupportedVersion, "v \(fix.v)") }
        guard fix.agent == agent else { throw PayloadError(.agentMismatch, "fix for \(fix.agent)") }
        guard let time = Timestamp.parse(fix.time) else { throw PayloadError(.invalidField, "time is not ISO 8601") }
        let position = StoredPosition(fix: fix, time: time)
        try check(position)
        return position
    }

    /// The checks of a position's numbers that every way in shares (a device's fix, another hub's relay): seq ≥ 1,
    /// latitude and longitude in range, every optional number finite.
    package static func check(_ position: StoredPosition) throws(PayloadError) {
        guard position.seq >= 1 else { throw PayloadError(.invalidField, "seq must be ≥ 1") }
        guard (-90...90).contains(position.lat), (-180...180).contains(position.lon) else {
            throw PayloadError(.invalidField, "lat/lon out of range")
        }
        for value in [position.alt, position.speed, position.track, position.hacc] {
            if let value, !value.isFinite { throw PayloadError(.invalidField, "non-finite number") }
        }
    }

    /// The largest OwnTracks `tst` accepted (unix seconds, 10^11: the year 5138).
    package static let maxOwnTracksTst: Int64 = 100_000_000_000

    /// OwnTracks `_type: location` from a mapped user/device; deduplicated on (agent, tst) by using tst as the seq.
    func owntracks(_ message: MQTTMessage, store: any HubStore) async -> Outcome {
        let parts = message.topic.split(separator: "/")
        guard parts.count == 3, let agent = owntracksMap["\(parts[1])/\(parts[2])"] else {
            return reject("unmapped_owntracks", agent: "-", "topic \(message.topic)")
        }
        guard message.payload.count <= 64 * 1024 else { return reject("too_large", agent: agent, "owntracks") }
        guard await isKnown(agent, store: store) else { return reject("unknown_agent", agent: agent, "owntracks") }
        do throws(PayloadError) {
            guard let position = try Self.checkOwnTracks(message.payload, agent: agent) else {
                return .rejected("not_location")
            }
            return .positions([position])
        } catch {
            return reject(error.code.rawValue, agent: agent, error.message)
        }
    }

    /// An OwnTracks payload from a mapped, provisioned agent as the hub stores it: nil when it is not a `location`
    /// (ignored, not counted); throws ``PayloadError`` for a payload that is not OwnTracks JSON or whose `tst`, `lat`
    /// or `lon` is out of bounds. What ``owntracks(_:store:)`` runs after the topic, size and agent checks (and what
    /// the `owntracks` fuzz target runs).
    package static func checkOwnTracks(_ payload: [UInt8], agent: String) throws(PayloadError) -> StoredPosition? {
        let location = try PayloadCoding.decode(OwnTracksLocation.self, from: payload)
        guard location.type == "location" else { return nil }
        // tst is unix seconds from the phone: bounded (year 5138 at most) so that tst × 1000 cannot overflow.
        guard (1...Self.maxOwnTracksTst).contains(location.tst), (-90...90).contains(location.lat),
            (-180...180).contains(location.lon)
        else {
            throw PayloadError(.invalidField, "tst, lat or lon")
        }
        return StoredPosition(
            agent: agent, seq: location.tst, time: location.tst * 1000, lat: location.lat, lon: location.lon,
            alt: location.alt, speed: location.vel.map { $0 / 3.6 }, track: location.cog, hacc: location.acc, mode: nil)
    }

    private func reject(_ reason: String, agent: String, _ detail: String) -> Outcome {
        metrics.ingestRejected(reason).increment()
        let key = "\(agent)|\(reason)"
        let now = monotonicMilliseconds()
        let log = lastLog.withLock { seen -> Bool in
            if let last = seen[key], now - last < 60_000 { return false }
            if seen.count > 10_000 { seen.removeAll() }
            seen[key] = now
            return true
        }
        if log {
            logger.warning(
                "Rejected message",
                metadata: ["agent.id": "\(agent)", "ingest.reason": "\(reason)", "ingest.detail": "\(detail)"])
        }
        return .rejected(reason)
    }
}

/// The fields of an OwnTracks location message the hub uses.
struct OwnTracksLocation: Decodable {
    var type: String
    var lat: Double
    var lon: Double
    var tst: Int64
    var alt: Double?
    var vel: Double?
    var cog: Double?
    var acc: Double?

    enum CodingKeys: String, CodingKey {
        case type = "_type"
        case lat, lon, tst, alt, vel, cog, acc
    }
}
