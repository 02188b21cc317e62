import CMosquitto
import DabbaCore
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An MQTT client over libmosquitto with its own network thread and reconnect loop.
///
/// Each connection attempt uses a fresh libmosquitto handle with a clean session, so nothing queued in a lost
/// session is resent by the library: the caller's durable store is the single source of truth for resends.
/// Typical use: create it, add subscriptions, run it (it is a swift-service-lifecycle `Service`, or call ``run()``
/// in a child task), and consume ``events`` in one place:
/// ```swift
/// let client = MQTTClient(configuration: MQTTConfiguration(clientID: "agent-a-17"), logger: logger)
/// client.subscribe("dabba/v1/agents/a-17/ack", qos: .atLeastOnce)
/// for await event in client.events {
///     switch event {
///     case .connected: break  // publish again what has no PUBACK yet, newest fix first
///     case .published(let mid): _ = mid  // mark that row sent
///     default: break
///     }
/// }
/// ```
public final class MQTTClient: Sendable {
    let configuration: MQTTConfiguration
    let logger: Logger
    let state: Mutex<State>
    /// Wakes the network thread when another thread queues a publish (see `dabba_mosq_loop`).
    let wakeFD: Int32
    /// Set once by `shutdown`; read by the network thread on every turn of its loop.
    let stopRequested = Atomic<Bool>(false)
    /// The last error line libmosquitto logged before CONNACK (TLS details, for example), per handle.
    let libraryError = Mutex<[MosquittoHandle: String]>([:])
    private let eventStream: AsyncStream<MQTTEvent>
    let eventContinuation: AsyncStream<MQTTEvent>.Continuation
    /// Events yielded and not yet taken by the consumer (see ``MQTTConfiguration/eventBufferLimit``).
    let pendingEvents = Atomic<Int>(0)
    /// Set when ``events`` is first iterated: only then does the network thread wait for the consumer.
    let eventsConsumed = Atomic<Bool>(false)
    /// How often the network thread paused for a lagging consumer (``backPressurePauses``).
    let backPressureCount = Atomic<Int>(0)

    /// Creates a client; nothing happens on the network until ``run()``.
    public init(configuration: MQTTConfiguration, logger: Logger) {
        _ = mosquittoLibraryInitialized
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "mqtt.client_id"] = "\(configuration.clientID)"
        logger[metadataKey: "mqtt.host"] = "\(configuration.host)"
        logger[metadataKey: "mqtt.port"] = "\(configuration.port)"
        self.logger = logger
        let wakeFD = dabba_wake_open()
        self.wakeFD = wakeFD
        self.state = Mutex(State(will: configuration.will, wakeFD: wakeFD))
        (eventStream, eventContinuation) = AsyncStream.makeStream(of: MQTTEvent.self, bufferingPolicy: .unbounded)
    }

    deinit {
        eventContinuation.finish()
        if wakeFD >= 0 { close(wakeFD) }
    }

    /// How the reason of a ``MQTTEvent/publishFailed(_:reason:)`` starts when the broker refused the message
    /// (a PUBACK/PUBREC reason code of 0x80 or more, e.g. "not authorized"), as opposed to a session that ended.
    public static let brokerRefusalPrefix = "refused by broker: "

    /// True when a ``MQTTEvent/publishFailed(_:reason:)`` reason says the broker refused the message.
    public static func isBrokerRefusal(_ reason: String) -> Bool { reason.hasPrefix(brokerRefusalPrefix) }

    /// Single-consumer stream of everything that happens: `connected`, `disconnected`, `published`,
    /// `publishFailed`, `message`. Nothing is ever dropped; once iterated, a consumer that lags more than
    /// ``MQTTConfiguration/eventBufferLimit`` events behind pauses the network thread's reading (back-pressure), so
    /// the buffer stays bounded. The stream finishes when ``run()`` ends.
    public var events: MQTTEventStream { MQTTEventStream(base: eventStream, client: self) }

    /// How many times the network thread paused because the ``events`` consumer lagged behind.
    public var backPressurePauses: Int { backPressureCount.load(ordering: .relaxed) }

    /// Hands an event to the consumer (call under the state lock, so events keep the order of the state changes).
    func emit(_ event: MQTTEvent) {
        pendingEvents.add(1, ordering: .relaxed)
        eventContinuation.yield(event)
    }

    /// True while a session is up (CONNACK received and the connection not yet lost).
    public var isConnected: Bool { state.withLock { $0.session?.connected ?? false } }

    /// True while a session is up and the broker has granted every subscription added with
    /// ``subscribe(_:qos:)`` in that session (false while a SUBACK is outstanding or after a refusal).
    public var isSubscribed: Bool {
        state.withLock { s in
            guard let session = s.session, session.connected, session.announced else { return false }
            return s.subscriptions.allSatisfy { session.granted.contains($0.filter) }
        }
    }

    /// Runs the network thread until the calling task is cancelled, ``shutdown()`` is called, or (inside a
    /// swift-service-lifecycle `ServiceGroup`) graceful shutdown is triggered; then sends a clean DISCONNECT (so
    /// the broker drops the Will), destroys the handle, finishes ``events`` and returns.
    /// Waits on a continuation resumed by the thread, never blocking the cooperative pool.
    /// Throws ``MQTTError`` for a configuration that can never connect (bad port or keep-alive, unreadable TLS
    /// CA file, invalid Will topic) and when called while already running; returns at once after it ended.
    public func run() async throws {
        do {
            try configuration.validate()
        } catch {
            finishBeforeStart()
            throw error
        }
        try await withGracefulShutdownHandler {
            try await runUntilStopped()
        } onGracefulShutdown: {
            self.shutdown()
        }
    }

    /// Starts the network thread and waits for it to finish; cancellation requests a clean shutdown.
    private func runUntilStopped() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let start: MQTTError?? = state.withLock { s in
                    switch s.run {
                    case .idle:
                        s.run = .running(continuation)
                        return .some(nil)
                    case .running: return MQTTError(.invalidArgument, "MQTTClient.run() is already running")
                    case .finished: return nil
                    }
                }
                switch start {
                case .some(nil): NativeThread.detach(name: "dabba-mqtt") { self.networkThreadMain() }
                case .some(let error?): continuation.resume(throwing: error)
                case nil: continuation.resume()
                }
            }
        } onCancel: {
            self.shutdown()
        }
    }

    /// Requests a clean shutdown (idempotent); ``run()`` returns soon after (within about a second).
    public func shutdown() { shutdown(sendDisconnect: true) }

    /// Stops like ``shutdown()``; with `sendDisconnect: false` the socket is closed without a DISCONNECT, as when
    /// the process crashes, so the broker publishes the Will at once. For tests that simulate a crash.
    package func shutdown(sendDisconnect: Bool) {
        let finishNow = state.withLock { s in
            if !sendDisconnect { s.sendDisconnect = false }
            guard case .idle = s.run else { return false }
            s.run = .finished
            return true
        }
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        if wakeFD >= 0 { dabba_wake_signal(wakeFD) }
        if finishNow { eventContinuation.finish() }
    }

    /// Queues a publish in the current session without waiting and returns its message id. The outcome arrives
    /// on ``events`` as ``MQTTEvent/published(_:)`` or ``MQTTEvent/publishFailed(_:reason:)``.
    /// Throws ``MQTTError`` with code ``MQTTError/Code/notConnected`` when no session is up (keep the data and
    /// publish again after ``MQTTEvent/connected(session:)``), or ``MQTTError/Code/invalidArgument`` for a bad
    /// topic or payload. Thread-safe; never waits for the network.
    @discardableResult
    public func publish(_ message: MQTTMessage) throws -> MQTTMessageID {
        try state.withLock { s in
            let mid = try s.publish(message)
            s.pending[mid] = .event
            return mid
        }
    }

    /// Same as ``publish(_:)``.
    @discardableResult
    public func publish(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool = false) throws -> MQTTMessageID {
        try publish(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: retain))
    }

    /// Publishes and waits for the acknowledgement (PUBACK, PUBCOMP, or the write for QoS 0). Throws
    /// ``MQTTError`` when no session is up (`notConnected`), the broker refuses it (`publishFailed`), or the
    /// session ends first (`connectionLost`, `shutdown`); `CancellationError` when the task is cancelled (the
    /// message may still be delivered). Produces no `published`/`publishFailed` event.
    public func publishAndWait(_ message: MQTTMessage) async throws {
        let token = state.withLock { s in
            s.nextWaiterToken += 1
            s.waiters[s.nextWaiterToken] = .starting
            return s.nextWaiterToken
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                state.withLock { s in
                    guard case .starting = s.waiters[token] else {
                        s.waiters[token] = nil
                        return continuation.resume(throwing: CancellationError())
                    }
                    do {
                        let mid = try s.publish(message)
                        s.pending[mid] = .waiter(token: token, continuation)
                        s.waiters[token] = .inFlight(mid)
                    } catch {
                        s.waiters[token] = nil
                        continuation.resume(throwing: error)
                    }
                }
            }
        } onCancel: {
            state.withLock { s in
                switch s.waiters[token] {
                case .starting: s.waiters[token] = .cancelled
                case .inFlight(let mid):
                    s.waiters[token] = nil
                    if case .waiter(_, let continuation) = s.pending.removeValue(forKey: mid) {
                        continuation.resume(throwing: CancellationError())
                    }
                case .cancelled, nil: break
                }
            }
        }
    }

    /// Adds a subscription (or changes its QoS) that is applied now when a session is up and again on every
    /// later session, right after CONNACK. Filters may use `+`, `#` and `$share/group/…` (MQTT 5).
    /// An invalid filter is logged and ignored; a refusal by the broker is logged and keeps ``isSubscribed`` false.
    /// `noLocal` (MQTT 5 only; ignored on 3.1.1): the broker does not send this client the messages it publishes
    /// itself on topics the filter matches.
    public func subscribe(_ filter: String, qos: MQTTQoS, noLocal: Bool = false) {
        guard !filter.isEmpty, mosquitto_sub_topic_check(filter) == MOSQ_ERR_SUCCESS.rawValue else {
            logger.error("MQTT subscription filter is invalid; ignored", metadata: ["mqtt.filter": "\(filter)"])
            return
        }
        let failure: MQTTError? = state.withLock { s in
            let subscription = Subscription(filter: filter, qos: qos, noLocal: noLocal)
            if let index = s.subscriptions.firstIndex(where: { $0.filter == filter }) {
                s.subscriptions[index] = subscription
            } else {
                s.subscriptions.append(subscription)
            }
            guard var session = s.session, session.connected, session.announced else { return nil }
            let failure = session.subscribe(subscription)
            s.session = session
            if wakeFD >= 0 { dabba_wake_signal(wakeFD) }  // the SUBSCRIBE goes out now, not at the next turn
            return failure
        }
        if let failure {
            logger.warning("MQTT subscribe failed", metadata: ["mqtt.filter": "\(filter)", "mqtt.error": "\(failure)"])
        }
    }

    /// Sets (or clears, with nil) the Last Will used from the next connection attempt on. The current session
    /// keeps the Will it connected with. A Will whose topic is invalid (empty, wildcards) makes the next attempt
    /// fail and ``run()`` throw, as an invalid ``MQTTConfiguration/will`` does.
    public func setWill(_ will: MQTTMessage?) {
        state.withLock { $0.will = will }
    }

    /// Finishes the stream when `run()` fails before its thread started.
    private func finishBeforeStart() {
        state.withLock { s in
            if case .idle = s.run { s.run = .finished }
        }
        eventContinuation.finish()
    }
}

/// `mosquitto_lib_init()` exactly once per process (Swift runs a global's initializer once, thread-safely).
let mosquittoLibraryInitialized: Bool = {
    mosquitto_lib_init() == MOSQ_ERR_SUCCESS.rawValue
}()
