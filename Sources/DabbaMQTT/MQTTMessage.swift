/// MQTT quality of service for a publish or a subscription.
public enum MQTTQoS: Int32, Sendable, Hashable {
    /// Fire and forget: no acknowledgement.
    case atMostOnce = 0
    /// Acknowledged with PUBACK; may be delivered more than once.
    case atLeastOnce = 1
    /// Four-way handshake ending in PUBCOMP; delivered exactly once.
    case exactlyOnce = 2
}

/// The message id libmosquitto gives a publish (`mid`); unique within one session.
public typealias MQTTMessageID = Int32

/// One MQTT application message: a publish to send, an incoming message, or a Last Will.
public struct MQTTMessage: Sendable, Equatable {
    /// The topic name (no wildcards when publishing).
    public var topic: String
    /// The payload bytes (Dabba payloads are UTF-8 JSON, but any bytes are allowed).
    public var payload: [UInt8]
    /// Quality of service.
    public var qos: MQTTQoS
    /// The retain flag. On an incoming message it is set when the broker delivers a retained message
    /// because of a new subscription.
    public var retain: Bool

    public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atLeastOnce, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }

    /// A message whose payload is the UTF-8 bytes of `string`.
    public init(topic: String, string: String, qos: MQTTQoS = .atLeastOnce, retain: Bool = false) {
        self.init(topic: topic, payload: Array(string.utf8), qos: qos, retain: retain)
    }

    /// The payload decoded as UTF-8 (invalid sequences are replaced).
    public var payloadString: String { String(decoding: payload, as: UTF8.self) }
}

/// What happens on an ``MQTTClient``, in causal order per session: `connected`, then the results of the
/// publishes made in that session and incoming messages, then `disconnected`.
public enum MQTTEvent: Sendable, Equatable {
    /// A CONNACK with success arrived. `session` counts up from 1 for each successful connection of this client.
    /// Subscriptions are (re)applied right after; the caller republishes whatever it wants (each session starts
    /// with an empty libmosquitto queue).
    case connected(session: Int)
    /// A session ended (connection lost, or the broker refused the connection), or a connection attempt failed.
    /// Emitted once per failed attempt too, so the newest reason is always known. Any publish of the ended
    /// session that had no PUBACK yet was reported as `publishFailed` just before this event.
    case disconnected(reason: String)
    /// A publish made with ``MQTTClient/publish(_:)`` completed: PUBACK (QoS 1), PUBCOMP (QoS 2) or written
    /// to the socket (QoS 0).
    case published(MQTTMessageID)
    /// A publish made with ``MQTTClient/publish(_:)`` failed: the broker answered with a reason code >= 0x80
    /// (for example 0x87, not authorized) or its session ended before the acknowledgement.
    case publishFailed(MQTTMessageID, reason: String)
    /// A message arrived on one of the subscriptions.
    case message(MQTTMessage)
}
