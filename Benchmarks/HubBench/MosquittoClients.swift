import CMosquitto
import DabbaProtocol
import Foundation
import Synchronization

/// `mosquitto_lib_init()` once per process (the hub's `MQTTClient` does the same; libmosquitto counts the calls).
let mosquittoReady: Bool = mosquitto_lib_init() == MOSQ_ERR_SUCCESS.rawValue

/// One plain libmosquitto connection (MQTT 5, threaded loop, TCP_NODELAY) publishing QoS 1 with a bounded window of
/// unacknowledged messages, the way a C programmer writes a load generator. `publish` blocks the calling thread, so
/// call it from a dedicated thread (`NativeThread`), never from Swift's cooperative pool.
final class PublisherConnection: @unchecked Sendable {
    private let mosq: OpaquePointer
    let window: Int
    /// PUBACKs received.
    let acked = Atomic<Int>(0)
    let connected = Atomic<Bool>(false)
    /// Publishes handed to libmosquitto; only the publishing thread writes it.
    private let sentCount = Atomic<Int>(0)
    var sent: Int { sentCount.load(ordering: .acquiring) }
    /// One permit per message that may be unacknowledged.
    fileprivate let slots: DispatchSemaphore

    init(port: Int, clientID: String, window: Int) throws {
        guard mosquittoReady, let mosq = mosquitto_new(clientID, true, nil) else {
            throw BenchError("mosquitto_new failed for \(clientID)")
        }
        self.mosq = mosq
        self.window = window
        self.slots = DispatchSemaphore(value: window)
        mosquitto_user_data_set(mosq, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5)
        mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1)
        mosquitto_max_inflight_messages_set(mosq, UInt32(window))
        mosquitto_connect_callback_set(mosq, publisherOnConnect)
        mosquitto_publish_callback_set(mosq, publisherOnPublish)
        guard mosquitto_loop_start(mosq) == MOSQ_ERR_SUCCESS.rawValue,
            mosquitto_connect_async(mosq, "127.0.0.1", Int32(port), 30) == MOSQ_ERR_SUCCESS.rawValue
        else {
            mosquitto_destroy(mosq)
            throw BenchError("publisher \(clientID) cannot connect to 127.0.0.1:\(port)")
        }
    }

    /// Publishes one QoS 1 message once fewer than `window` are unacknowledged (the thread sleeps on a semaphore the
    /// PUBACK callback signals, so a full window costs no CPU); throws if the window stays full for 30 s.
    func publish(topic: String, payload: [UInt8]) throws {
        guard slots.wait(timeout: .now() + 30) == .success else { throw BenchError("publisher: no PUBACK for 30 s") }
        let rc = payload.withUnsafeBytes {
            mosquitto_publish(mosq, nil, topic, Int32($0.count), $0.baseAddress, 1, false)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw BenchError("publisher: mosquitto_publish returned \(rc)") }
        sentCount.add(1, ordering: .releasing)
    }

    /// Disconnects, stops the network thread and frees the handle (call once, after the last publish).
    func stop() {
        mosquitto_disconnect(mosq)
        mosquitto_loop_stop(mosq, false)
        mosquitto_destroy(mosq)
    }
}

private func publisherOnConnect(_: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ rc: Int32) {
    guard rc == 0, let userdata else { return }
    Unmanaged<PublisherConnection>.fromOpaque(userdata).takeUnretainedValue().connected.store(
        true, ordering: .releasing)
}

private func publisherOnPublish(_: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _: Int32) {
    guard let userdata else { return }
    let connection = Unmanaged<PublisherConnection>.fromOpaque(userdata).takeUnretainedValue()
    connection.acked.add(1, ordering: .releasing)
    connection.slots.signal()
}

/// The baseline reader: a plain libmosquitto subscriber (MQTT 5, QoS 1, threaded loop) that notes the instant each
/// message arrives, before looking at it, and counts messages. With a `receipts` table it also records the first
/// receipt of each (agent, seq), read from the topic and the payload's `"seq":` field by a byte scan (no JSON
/// decoder: the least a reader can do).
final class RawSubscriber: @unchecked Sendable {
    private let mosq: OpaquePointer
    let filter: String
    let receipts: InstantTable?
    /// Called with each message's topic and payload on libmosquitto's thread (keep it short).
    let handler: (@Sendable (String, UnsafeRawBufferPointer) -> Void)?
    let count = Atomic<Int>(0)
    let subscribed = Atomic<Bool>(false)
    private let window = Mutex<(first: ContinuousClock.Instant?, last: ContinuousClock.Instant?)>((nil, nil))

    init(
        port: Int, clientID: String, filter: String, receipts: InstantTable? = nil,
        handler: (@Sendable (String, UnsafeRawBufferPointer) -> Void)? = nil
    ) throws {
        guard mosquittoReady, let mosq = mosquitto_new(clientID, true, nil) else {
            throw BenchError("mosquitto_new failed for \(clientID)")
        }
        self.mosq = mosq
        self.filter = filter
        self.receipts = receipts
        self.handler = handler
        mosquitto_user_data_set(mosq, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5)
        mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1)
        mosquitto_connect_callback_set(mosq, rawOnConnect)
        mosquitto_subscribe_callback_set(mosq, rawOnSubscribe)
        mosquitto_message_callback_set(mosq, rawOnMessage)
        guard mosquitto_loop_start(mosq) == MOSQ_ERR_SUCCESS.rawValue,
            mosquitto_connect_async(mosq, "127.0.0.1", Int32(port), 30) == MOSQ_ERR_SUCCESS.rawValue
        else {
            mosquitto_destroy(mosq)
            throw BenchError("raw subscriber cannot connect to 127.0.0.1:\(port)")
        }
    }

    /// Instants of the first and the last message received.
    var firstAndLast: (first: ContinuousClock.Instant?, last: ContinuousClock.Instant?) { window.withLock { $0 } }

    fileprivate func connected() { mosquitto_subscribe(mosq, nil, filter, 1) }

    fileprivate func received(topic: UnsafePointer<CChar>?, payload: UnsafeRawBufferPointer) {
        let now = ContinuousClock.now
        window.withLock { w in
            if w.first == nil { w.first = now }
            w.last = now
        }
        count.add(1, ordering: .relaxed)
        if let handler, let topic { handler(String(cString: topic), payload) }
        guard let receipts, let topic, let parsed = BenchAgent.index(topic: String(cString: topic)),
            let seq = scanInt(key: "\"seq\":", in: payload)
        else { return }
        receipts.record(agent: parsed, seq: Int(seq), at: now)
    }

    /// Disconnects, stops the network thread and frees the handle (call once).
    func stop() {
        mosquitto_disconnect(mosq)
        mosquitto_loop_stop(mosq, false)
        mosquitto_destroy(mosq)
    }
}

private func rawOnConnect(_: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ rc: Int32) {
    guard rc == 0, let userdata else { return }
    Unmanaged<RawSubscriber>.fromOpaque(userdata).takeUnretainedValue().connected()
}

private func rawOnSubscribe(
    _: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _: Int32, _ count: Int32, _ granted: UnsafePointer<Int32>?
) {
    guard let userdata, count > 0, let granted, granted[0] <= 2 else { return }
    Unmanaged<RawSubscriber>.fromOpaque(userdata).takeUnretainedValue().subscribed.store(true, ordering: .releasing)
}

private func rawOnMessage(
    _: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ message: UnsafePointer<mosquitto_message>?
) {
    guard let userdata, let message else { return }
    let payload = UnsafeRawBufferPointer(start: message.pointee.payload, count: Int(message.pointee.payloadlen))
    Unmanaged<RawSubscriber>.fromOpaque(userdata).takeUnretainedValue().received(
        topic: message.pointee.topic, payload: payload)
}

/// The unsigned integer right after `key` in `bytes` (for `"seq":123`), or nil.
func scanInt(key: StaticString, in bytes: UnsafeRawBufferPointer) -> Int64? {
    let pattern = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
    guard bytes.count > pattern.count else { return nil }
    var i = 0
    while i + pattern.count < bytes.count {
        if bytes[i] == pattern[0] && bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
            var j = i + pattern.count
            var value: Int64 = 0
            var digits = 0
            while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39, digits < 18 {
                value = value * 10 + Int64(bytes[j] - 0x30)
                j += 1
                digits += 1
            }
            return digits > 0 ? value : nil
        }
        i += 1
    }
    return nil
}

/// The acks the hub sent to the agents, as the agents would read them: a subscriber on `dabba/v1/agents/+/ack` that
/// decodes each ack and keeps the distinct seqs acked per agent. The ingest benchmark checks every fix it published
/// was acked to its agent — committed is not enough: an ack the hub could not hand to the broker leaves the agent
/// sending the fix again.
final class AckCounter: Sendable {
    private let table = AckTable()
    let subscriber: RawSubscriber

    init(port: Int) throws {
        let table = self.table
        subscriber = try RawSubscriber(
            port: port, clientID: "bench-acks", filter: "dabba/v1/agents/+/ack",
            handler: { _, payload in table.note(Array(payload)) })
    }

    /// Distinct (agent, seq) pairs acked so far.
    var total: Int { table.acked.withLock { $0.values.reduce(0) { $0 + $1.count } } }
    /// Acks that did not decode (none expected).
    var malformed: Int { table.undecodable.load(ordering: .relaxed) }
    /// Agents whose acked seqs are not exactly 1…`seqs`.
    func incomplete(agents: [String], seqs: Int) -> [String] {
        table.acked.withLock { acked in
            agents.filter { agent in
                let got = acked[agent] ?? []
                return got.count != seqs || got.contains { $0 < 1 || $0 > Int64(seqs) }
            }
        }
    }

    func stop() { subscriber.stop() }
}

/// What ``AckCounter`` has read.
private final class AckTable: Sendable {
    let acked = Mutex<[String: Set<Int64>]>([:])
    let undecodable = Atomic<Int>(0)

    func note(_ payload: [UInt8]) {
        guard let ack = try? PayloadCoding.decode(AckMessage.self, from: payload), let ranges = try? ack.ranges() else {
            undecodable.add(1, ordering: .relaxed)
            return
        }
        acked.withLock { table in
            for range in ranges { table[ack.agent, default: []].formUnion(range) }
        }
    }
}
