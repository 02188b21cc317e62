import CMosquitto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// libmosquitto calls these on the client's network thread, from inside `dabba_mosq_loop`. They are free,
// nonisolated functions (a closure in top-level code would be inferred @MainActor and trap when called from a
// foreign thread). The userdata pointer is the unretained `MQTTClient`, which the network thread keeps alive
// until after the handle is destroyed. They only record state and hand events on; all other work (subscribing,
// logging, reconnecting) happens on the network thread after each loop turn returns.

/// The client behind a callback's userdata pointer.
private func client(_ userdata: UnsafeMutableRawPointer) -> MQTTClient {
    Unmanaged<MQTTClient>.fromOpaque(userdata).takeUnretainedValue()
}

nonisolated func mqttOnConnect(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ reason: Int32, _ flags: Int32,
    _ properties: OpaquePointer?
) {
    guard let mosq, let userdata else { return }
    client(userdata).didReceiveConnack(
        MosquittoHandle(pointer: mosq), reason: reason)
}

nonisolated func mqttOnDisconnect(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ rc: Int32, _ properties: OpaquePointer?
) {
    let savedErrno = errno
    guard let mosq, let userdata else { return }
    client(userdata).didDisconnect(
        MosquittoHandle(pointer: mosq), rc: rc, errno: savedErrno)
}

nonisolated func mqttOnPublish(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ mid: Int32, _ reason: Int32,
    _ properties: OpaquePointer?
) {
    guard let mosq, let userdata else { return }
    client(userdata).didCompletePublish(
        MosquittoHandle(pointer: mosq), mid: mid, reason: reason)
}

nonisolated func mqttOnMessage(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ message: UnsafePointer<mosquitto_message>?,
    _ properties: OpaquePointer?
) {
    guard let mosq, let userdata, let message, let topic = dabba_mosq_msg_topic(message) else { return }
    let count = Int(dabba_mosq_msg_payloadlen(message))
    let payload: [UInt8] =
        if count > 0, let bytes = dabba_mosq_msg_payload(message) {
            Array(UnsafeRawBufferPointer(start: bytes, count: count))
        } else {
            []
        }
    let received = MQTTMessage(
        topic: String(cString: topic), payload: payload,
        qos: MQTTQoS(rawValue: dabba_mosq_msg_qos(message)) ?? .atMostOnce,
        retain: dabba_mosq_msg_retain(message) != 0)
    client(userdata).didReceive(
        MosquittoHandle(pointer: mosq), message: received)
}

nonisolated func mqttOnSubscribe(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ mid: Int32, _ count: Int32,
    _ granted: UnsafePointer<Int32>?, _ properties: OpaquePointer?
) {
    guard let mosq, let userdata else { return }
    let first: Int32 = if count > 0, let granted { granted[0] } else { 0x80 }
    client(userdata).didSubscribe(
        MosquittoHandle(pointer: mosq), mid: mid, granted: first)
}

/// Installed only until CONNACK (libmosquitto formats every debug line while a log callback is set): keeps the
/// last error libmosquitto logs, such as OpenSSL's "certificate verify failed", for the failure reason.
nonisolated func mqttOnLog(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ level: Int32, _ text: UnsafePointer<CChar>?
) {
    guard level & Int32(MOSQ_LOG_ERR) != 0, let mosq, let userdata, let text else { return }
    let line = String(cString: text)
    client(userdata).didLogError(MosquittoHandle(pointer: mosq), line)
}

extension MQTTClient {
    /// Installs the callbacks above on a fresh handle.
    func installCallbacks(_ handle: OpaquePointer) {
        mosquitto_log_callback_set(handle, mqttOnLog)
        mosquitto_connect_v5_callback_set(handle, mqttOnConnect)
        mosquitto_disconnect_v5_callback_set(handle, mqttOnDisconnect)
        mosquitto_publish_v5_callback_set(handle, mqttOnPublish)
        mosquitto_message_v5_callback_set(handle, mqttOnMessage)
        mosquitto_subscribe_v5_callback_set(handle, mqttOnSubscribe)
    }

    func didReceiveConnack(_ handle: MosquittoHandle, reason: Int32) {
        state.withLock { s in
            guard let session = s.session, session.handle == handle else { return }
            if reason == 0 {
                s.sessionCount += 1
                s.session?.connected = true
                s.session?.number = s.sessionCount
                if s.subscriptions.isEmpty {
                    s.session?.connectedYielded = true
                    emit(.connected(session: s.sessionCount))
                }
            } else {
                let v311 = session.protocolVersion == .v311
                s.session?.failure = "connection refused: " + mqttReasonText(reason, v311Connack: v311)
                // 132 = unsupported protocol version (libmosquitto also maps a v3 CONNACK 1 to it).
                if !v311 && (reason == 132 || reason == 1) { s.session?.protocolRefused = true }
            }
        }
    }

    func didDisconnect(_ handle: MosquittoHandle, rc: Int32, errno savedErrno: Int32) {
        state.withLock { s in
            guard s.session?.handle == handle else { return }
            s.session?.connected = false
            guard s.session?.failure == nil else { return }
            let lost = s.session?.number != nil ? "connection lost: " : "connection failed: "
            s.session?.failure =
                if rc == 0 {
                    "disconnected"
                } else if rc >= 0x80 {
                    "disconnected by broker: " + mqttReasonText(rc)
                } else if rc == MOSQ_ERR_ERRNO.rawValue {
                    lost + systemErrorText(savedErrno)
                } else {
                    lost + String(cString: mosquitto_strerror(rc))
                }
        }
    }

    func didCompletePublish(_ handle: MosquittoHandle, mid: Int32, reason: Int32) {
        state.withLock { s in
            guard s.session?.handle == handle, let pending = s.pending.removeValue(forKey: mid) else { return }
            let failure = reason >= 0x80 ? MQTTClient.brokerRefusalPrefix + mqttReasonText(reason) : nil
            switch pending {
            case .event:
                emit(failure.map { .publishFailed(mid, reason: $0) } ?? .published(mid))
            case .waiter(let token, let continuation):
                s.waiters[token] = nil
                if let failure {
                    continuation.resume(throwing: MQTTError(.publishFailed, failure))
                } else {
                    continuation.resume()
                }
            }
        }
    }

    func didReceive(_ handle: MosquittoHandle, message: MQTTMessage) {
        state.withLock { s in
            guard s.session?.handle == handle else { return }
            emit(.message(message))
        }
    }

    func didSubscribe(_ handle: MosquittoHandle, mid: Int32, granted: Int32) {
        state.withLock { s in
            guard s.session?.handle == handle, let filter = s.session?.subscribeRequests.removeValue(forKey: mid)
            else { return }
            if (0...2).contains(granted) {
                s.session?.granted.insert(filter)
            } else {
                s.session?.refusals.append((filter, granted))
            }
            yieldConnectedIfSubscribed(&s)
        }
    }

    /// Yields `.connected` once the session's subscriptions have all been answered (under the state lock).
    func yieldConnectedIfSubscribed(_ s: inout State) {
        guard let session = s.session, session.connected, session.announced, !session.connectedYielded,
            session.subscribeRequests.isEmpty, let number = session.number
        else { return }
        s.session?.connectedYielded = true
        emit(.connected(session: number))
    }

    /// Uses its own small lock, never `state`: libmosquitto may log from a thread that holds `state` (inside
    /// `mosquitto_publish`) while holding its log mutex.
    func didLogError(_ handle: MosquittoHandle, _ line: String) {
        libraryError.withLock { $0[handle] = line }
    }
}
