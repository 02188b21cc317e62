import CMosquitto

/// One subscription the client keeps applying on every session.
struct Subscription: Sendable, Equatable {
    var filter: String
    var qos: MQTTQoS
    /// MQTT 5 no-local: the broker does not send this client its own messages on the filter.
    var noLocal = false
}

/// The client's locked state. Everything here is touched only inside `MQTTClient.state.withLock`; events are
/// yielded inside the lock too, so their order is the order of the state changes.
struct State {
    enum RunPhase {
        case idle
        case running(CheckedContinuation<Void, any Error>?)
        case finished
    }

    /// A publish waiting for its acknowledgement.
    enum Pending {
        /// Made with `publish(_:)`: report on the events stream.
        case event
        /// Made with `publishAndWait(_:)`: resume the caller.
        case waiter(token: UInt64, CheckedContinuation<Void, any Error>)
    }

    /// Where a `publishAndWait` call is, so cancellation can find it.
    enum Waiter {
        case starting
        case inFlight(MQTTMessageID)
        case cancelled
    }

    var run: RunPhase = .idle
    /// False once a stop without DISCONNECT (a simulated crash) was requested.
    var sendDisconnect = true
    var will: MQTTMessage?
    var subscriptions: [Subscription] = []
    /// Successful connections so far; the current session's number once connected.
    var sessionCount = 0
    /// The connection attempt or session in progress, with its libmosquitto handle.
    var session: Session?
    /// Publishes of the current session without acknowledgement, by message id.
    var pending: [MQTTMessageID: Pending] = [:]
    var waiters: [UInt64: Waiter] = [:]
    var nextWaiterToken: UInt64 = 0

    /// The network thread's wake-up (-1 if it could not be made: publishes then go out on the next loop turn).
    let wakeFD: Int32

    init(will: MQTTMessage?, wakeFD: Int32) {
        self.will = will
        self.wakeFD = wakeFD
    }

    /// Hands `message` to libmosquitto in the current session. Call with the lock held, and record the returned
    /// id in `pending` before releasing it: the acknowledgement callback takes the same lock.
    mutating func publish(_ message: MQTTMessage) throws -> MQTTMessageID {
        guard let session, session.connected else {
            throw MQTTError(.notConnected, "no MQTT session is up; publish to \(message.topic) again after connecting")
        }
        guard message.payload.count <= 268_435_455 else {
            throw MQTTError(.invalidArgument, "payload of \(message.payload.count) bytes exceeds the MQTT maximum")
        }
        var mid: Int32 = 0
        let rc = message.payload.withUnsafeBytes { bytes in
            mosquitto_publish_v5(
                session.handle.pointer, &mid, message.topic, Int32(bytes.count), bytes.baseAddress,
                message.qos.rawValue,
                message.retain, nil)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(mosquittoRC: rc, context: "publish to \(message.topic)")
        }
        if wakeFD >= 0 { dabba_wake_signal(wakeFD) }
        return mid
    }
}

/// A libmosquitto handle (`struct mosquitto *`). Sendable because it is only used under the client's lock or on
/// the network thread that owns it, and libmosquitto is in threaded mode (`mosquitto_threaded_set`).
struct MosquittoHandle: @unchecked Sendable, Hashable {
    let pointer: OpaquePointer
}

/// One connection attempt and, after CONNACK, its session. A fresh libmosquitto handle each time.
struct Session {
    let handle: MosquittoHandle
    let protocolVersion: MQTTProtocolVersion
    /// CONNACK with success received and the connection not lost since.
    var connected = false
    /// The session number, once the broker accepted the connection.
    var number: Int?
    /// The network thread has done its after-CONNACK work (subscriptions, log line).
    var announced = false
    /// Whether `.connected` was yielded: after CONNACK when there are no subscriptions, else once every SUBSCRIBE of
    /// the session has been answered, so a caller that publishes on `.connected` never misses replies (acks) that
    /// arrive on its subscriptions.
    var connectedYielded = false
    /// The first reason this attempt failed, as recorded by a callback.
    var failure: String?
    /// The broker refused the protocol version.
    var protocolRefused = false
    /// SUBSCRIBE message id → filter, until the SUBACK.
    var subscribeRequests: [Int32: String] = [:]
    /// Filters the broker granted in this session.
    var granted: Set<String> = []
    /// Refusals not yet logged by the network thread: filter and reason code.
    var refusals: [(filter: String, reason: Int32)] = []

    init(handle: MosquittoHandle, protocolVersion: MQTTProtocolVersion) {
        self.handle = handle
        self.protocolVersion = protocolVersion
    }

    /// Sends SUBSCRIBE for `subscription`; returns an error instead of throwing so callers can log after the lock.
    mutating func subscribe(_ subscription: Subscription) -> MQTTError? {
        var mid: Int32 = 0
        // No-local exists only in MQTT 5; on 3.1.1 the client gets its own messages back and the caller ignores them.
        let options: Int32 =
            subscription.noLocal && protocolVersion == .v5 ? Int32(MQTT_SUB_OPT_NO_LOCAL.rawValue) : 0
        let rc = mosquitto_subscribe_v5(
            handle.pointer, &mid, subscription.filter, subscription.qos.rawValue, options, nil)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            return MQTTError(mosquittoRC: rc, context: "subscribe to \(subscription.filter)")
        }
        granted.remove(subscription.filter)
        subscribeRequests[mid] = subscription.filter
        return nil
    }
}
