import CMosquitto
import DabbaCore
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How one connection attempt ended.
enum AttemptOutcome {
    /// The attempt failed or its session was lost; try again after a backoff.
    case ended(wasConnected: Bool, protocolRefused: Bool, reason: String)
    /// Shutdown was requested.
    case stopped
    /// The configuration can never work (libmosquitto refused an option).
    case fatal(MQTTError)
}

extension MQTTClient {
    /// The body of the dedicated network thread: connect, loop, back off, repeat until shutdown.
    func networkThreadMain() {
        var backoff = Backoff(initial: configuration.initialBackoff, maximum: configuration.maxBackoff)
        var version = configuration.protocolVersion
        var failuresInARow = 0
        var fatal: MQTTError?
        logger.info(
            "MQTT client starting",
            metadata: ["mqtt.protocol": "\(version)", "mqtt.tls": "\(configuration.tlsCAFile != nil)"])
        attempts: while !stopRequested.load(ordering: .relaxed) {
            switch runAttempt(version: version) {
            case .stopped:
                break attempts
            case .fatal(let error):
                fatal = error
                break attempts
            case .ended(let wasConnected, let protocolRefused, let reason):
                if protocolRefused && version == .v5 {
                    version = .v311
                    logger.warning("MQTT broker refused protocol version 5; using 3.1.1 from now on")
                }
                if wasConnected {
                    backoff.reset()
                    failuresInARow = 0
                }
                failuresInARow += 1
                let delay = protocolRefused ? .zero : backoff.next()
                let metadata: Logger.Metadata = [
                    "mqtt.reason": "\(reason)", "mqtt.retry_in_ms": "\(delay.dabbaMilliseconds)",
                    "mqtt.failures": "\(failuresInARow)",
                ]
                if wasConnected {
                    logger.warning("MQTT connection lost", metadata: metadata)
                } else if failuresInARow == 1 {
                    logger.warning("MQTT connection attempt failed", metadata: metadata)
                } else {
                    logger.debug("MQTT connection attempt failed", metadata: metadata)
                }
                ThreadSleep.sleep(delay) { stopRequested.load(ordering: .relaxed) }
            }
        }
        let continuation: CheckedContinuation<Void, any Error>? = state.withLock { s in
            defer { s.run = .finished }
            if case .running(let continuation) = s.run { return continuation }
            return nil
        }
        eventContinuation.finish()
        if let fatal {
            logger.error("MQTT client stopped", metadata: ["mqtt.error": "\(fatal)"])
            continuation?.resume(throwing: fatal)
        } else {
            logger.info("MQTT client stopped")
            continuation?.resume()
        }
    }

    /// One connection attempt on a fresh handle, and its session when the broker accepts it.
    private func runAttempt(version: MQTTProtocolVersion) -> AttemptOutcome {
        let clientID = configuration.clientID.isEmpty ? nil : configuration.clientID
        guard let pointer = mosquitto_new(clientID, true, Unmanaged.passUnretained(self).toOpaque()) else {
            let error = errno
            if error == EINVAL {
                return .fatal(MQTTError(.invalidArgument, "MQTT client id \"\(configuration.clientID)\" is invalid"))
            }
            return .ended(
                wasConnected: false, protocolRefused: false, reason: "mosquitto_new: \(systemErrorText(error))")
        }
        let handle = MosquittoHandle(pointer: pointer)
        defer { mosquitto_destroy(pointer) }
        do {
            try configure(pointer, version: version)
        } catch {
            return .fatal(error)
        }
        installCallbacks(pointer)
        state.withLock { s in
            s.session = Session(handle: handle, protocolVersion: version)
        }
        let rc = mosquitto_connect_bind_async(
            pointer, configuration.host, Int32(configuration.port), Int32(configuration.keepAlive), nil)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            return endSession(detail: mosquittoErrorText(rc), shutdown: false)
        }
        let deadline = monotonicMilliseconds() + configuration.connectTimeout.dabbaMilliseconds
        var timedOut = false
        var loopRC = MOSQ_ERR_SUCCESS.rawValue
        while !stopRequested.load(ordering: .relaxed) {
            waitForConsumer()
            loopRC = dabba_mosq_loop(pointer, wakeFD, Self.idleTurnMilliseconds)
            if loopRC != MOSQ_ERR_SUCCESS.rawValue { break }
            if !afterLoopTurn(pointer) && monotonicMilliseconds() > deadline {
                timedOut = true
                break
            }
        }
        if stopRequested.load(ordering: .relaxed) && loopRC == MOSQ_ERR_SUCCESS.rawValue && !timedOut {
            disconnectCleanly(pointer)
            _ = endSession(detail: nil, shutdown: true)
            return .stopped
        }
        let detail = timedOut ? "no CONNACK within \(configuration.connectTimeout)" : mosquittoErrorText(loopRC)
        return endSession(detail: detail, shutdown: false)
    }

    /// How long one loop turn waits when nothing happens: the socket, a publish, a subscribe and shutdown all wake
    /// the thread at once (`wakeFD`), so this only paces the keep-alive and the connect timeout's check. An idle
    /// device's thread wakes once a second instead of ten times.
    static let idleTurnMilliseconds: Int32 = 1000

    /// Back-pressure: while the ``events`` consumer is more than ``MQTTConfiguration/eventBufferLimit`` events
    /// behind, wait (1 ms steps, at most a second per loop turn, so keep-alives and shutdown still proceed) until
    /// it has taken half of them. Only once someone iterates ``events``.
    func waitForConsumer() {
        let limit = configuration.eventBufferLimit
        guard limit > 0, eventsConsumed.load(ordering: .relaxed), pendingEvents.load(ordering: .relaxed) > limit
        else { return }
        backPressureCount.add(1, ordering: .relaxed)
        let deadline = monotonicMilliseconds() + 1000
        while pendingEvents.load(ordering: .relaxed) > limit / 2, monotonicMilliseconds() < deadline,
            !stopRequested.load(ordering: .relaxed)
        {
            usleep(1000)
        }
    }

    /// Applies the configuration and the current Will to a fresh handle. Throws for options libmosquitto rejects.
    private func configure(_ handle: OpaquePointer, version: MQTTProtocolVersion) throws(MQTTError) {
        func check(_ rc: Int32, _ what: @autoclosure () -> String, tls: Bool = false) throws(MQTTError) {
            guard rc != MOSQ_ERR_SUCCESS.rawValue else { return }
            var error = MQTTError(mosquittoRC: rc, context: what())
            if tls { error.code = .tls }
            throw error
        }
        try check(mosquitto_threaded_set(handle, true), "enable threaded mode")
        let protocolNumber = version == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, protocolNumber), "set protocol version")
        try check(
            mosquitto_int_option(handle, MOSQ_OPT_SEND_MAXIMUM, Int32(configuration.maxInflight)),
            "set max in-flight messages to \(configuration.maxInflight)")
        // Small messages (a live fix, an ack) go out at once instead of waiting on Nagle's algorithm behind an
        // unacknowledged segment: tens of milliseconds per round trip otherwise.
        try check(mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1), "set TCP_NODELAY")
        if configuration.username != nil || configuration.password != nil {
            try check(
                mosquitto_username_pw_set(handle, configuration.username, configuration.password),
                "set user name and password")
        }
        if let caFile = configuration.tlsCAFile {
            try check(mosquitto_tls_set(handle, caFile, nil, nil, nil, nil), "use TLS CA file \(caFile)", tls: true)
            try check(mosquitto_tls_insecure_set(handle, false), "enable TLS host name verification", tls: true)
        }
        let will = state.withLock { $0.will }
        if let will {
            try validatePublishTopic(will.topic, what: "Last Will topic")
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set(
                    handle, will.topic, Int32(bytes.count), bytes.baseAddress, will.qos.rawValue, will.retain)
            }
            try check(rc, "set Last Will on \(will.topic)")
        }
    }

    /// Work after each loop turn, on the network thread: subscribe after CONNACK, log refusals.
    /// Returns whether the broker has accepted this attempt (CONNACK success), even if the session is lost since.
    private func afterLoopTurn(_ handle: OpaquePointer) -> Bool {
        let (accepted, newSession, refusals, failures) = state.withLock {
            s -> (Bool, Int?, [(filter: String, reason: Int32)], [MQTTError]) in
            guard var session = s.session else { return (false, nil, [], []) }
            var newSession: Int?
            var failures: [MQTTError] = []
            if session.connected && !session.announced {
                session.announced = true
                newSession = s.sessionCount
                failures = s.subscriptions.compactMap { session.subscribe($0) }
            }
            let refusals = session.refusals
            session.refusals.removeAll()
            s.session = session
            // Subscriptions that could not even be sent get no SUBACK: announce the session anyway.
            yieldConnectedIfSubscribed(&s)
            return (session.number != nil, newSession, refusals, failures)
        }
        if let newSession {
            mosquitto_log_callback_set(handle, nil)
            logger.info("MQTT connected", metadata: ["mqtt.session": "\(newSession)"])
        }
        for failure in failures {
            logger.warning("MQTT subscribe failed", metadata: ["mqtt.error": "\(failure)"])
        }
        for refusal in refusals {
            logger.error(
                "MQTT subscription refused by broker",
                metadata: ["mqtt.filter": "\(refusal.filter)", "mqtt.reason": "\(mqttReasonText(refusal.reason))"])
        }
        return accepted
    }

    /// On shutdown: give outstanding publishes a moment (bounded) to be acknowledged, then send DISCONNECT so
    /// the broker discards the Will. Skipped when a crash is being simulated.
    private func disconnectCleanly(_ handle: OpaquePointer) {
        let (connected, sendDisconnect) = state.withLock { ($0.session?.connected ?? false, $0.sendDisconnect) }
        guard connected && sendDisconnect else { return }
        let success = MOSQ_ERR_SUCCESS.rawValue
        var deadline = monotonicMilliseconds() + 500
        while monotonicMilliseconds() < deadline && state.withLock({ !$0.pending.isEmpty }) {
            if dabba_mosq_loop(handle, wakeFD, 50) != success { return }
        }
        guard mosquitto_disconnect_v5(handle, 0, nil) == success else { return }
        deadline = monotonicMilliseconds() + 500
        while monotonicMilliseconds() < deadline {
            if dabba_mosq_loop(handle, wakeFD, 50) != success { return }
        }
    }

    /// Ends the current attempt: fails its unacknowledged publishes, then reports `disconnected`. The reason is
    /// what a callback recorded, else `detail` (the error that ended the loop).
    private func endSession(detail: String?, shutdown: Bool) -> AttemptOutcome {
        state.withLock { s in
            guard let session = s.session else { return .stopped }
            s.session = nil
            let fallback = (session.number == nil ? "connection failed: " : "connection lost: ") + (detail ?? "")
            var reason = shutdown ? "shutdown" : session.failure ?? fallback
            if !shutdown, session.number == nil, let detail = libraryError.withLock({ $0[session.handle] }) {
                reason += " (\(detail))"
            }
            libraryError.withLock { $0[session.handle] = nil }
            let code: MQTTError.Code = shutdown ? .shutdown : .connectionLost
            for mid in s.pending.keys.sorted() {
                switch s.pending[mid] {
                case .event:
                    emit(.publishFailed(mid, reason: "session ended"))
                case .waiter(let token, let continuation):
                    s.waiters[token] = nil
                    continuation.resume(
                        throwing: MQTTError(code, "session ended before the acknowledgement: \(reason)"))
                case nil: break
                }
            }
            s.pending.removeAll()
            let wasConnected = session.number != nil
            if !shutdown || wasConnected {
                emit(.disconnected(reason: reason))
            }
            if shutdown { return .stopped }
            return .ended(wasConnected: wasConnected, protocolRefused: session.protocolRefused, reason: reason)
        }
    }
}
