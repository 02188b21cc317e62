import CMosquitto
import Foundation
import Synchronization

/// The baseline: a plain libmosquitto publisher (threaded loop, QoS 1, bounded in-flight window), written the way a
/// C programmer would, publishing the same payloads one message each.
enum RawPublisher {
    static let acked = Atomic<Int>(0)
    static let connected = Atomic<Bool>(false)
    /// Messages received on the ack topic (`run(…, ackTopic:)`).
    static let acksReceived = Atomic<Int>(0)
    nonisolated(unsafe) static var ackTopic: String?
    /// With `ackTopic`: the seconds from first publish until an ack for every message had arrived.
    nonisolated(unsafe) static var lastAckedSeconds: Double = 0

    /// Publishes `payloads` to `topic` and returns the seconds from first publish to last PUBACK. With `ackTopic`,
    /// it also subscribes to that topic (QoS 1) before it starts, takes (and counts) the messages there, as the
    /// agent takes the hub's acks, and waits for one per message (``lastAckedSeconds``).
    static func run(port: Int, topic: String, payloads: [[UInt8]], window: Int, ackTopic: String? = nil) throws
        -> Double
    {
        mosquitto_lib_init()
        guard let mosq = mosquitto_new("bench-raw", true, nil) else { throw BenchError("mosquitto_new failed") }
        defer { mosquitto_destroy(mosq) }
        mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5)
        mosquitto_max_inflight_messages_set(mosq, UInt32(window))
        mosquitto_publish_callback_set(mosq, rawOnPublish)
        mosquitto_connect_callback_set(mosq, rawOnConnect)
        mosquitto_message_callback_set(mosq, rawOnMessage)
        mosquitto_subscribe_callback_set(mosq, rawOnSubscribe)
        acked.store(0, ordering: .relaxed)
        connected.store(false, ordering: .relaxed)
        acksReceived.store(0, ordering: .relaxed)
        Self.ackTopic = ackTopic
        guard mosquitto_loop_start(mosq) == MOSQ_ERR_SUCCESS.rawValue,
            mosquitto_connect_async(mosq, "127.0.0.1", Int32(port), 30) == MOSQ_ERR_SUCCESS.rawValue
        else { throw BenchError("raw connect failed") }
        let deadline = Date().addingTimeInterval(10)
        while !connected.load(ordering: .acquiring) && Date() < deadline { usleep(1000) }
        guard connected.load(ordering: .acquiring) else { throw BenchError("raw publisher: no CONNACK in 10 s") }
        let start = Date()
        var sent = 0
        for payload in payloads {
            // Keep the library's queue bounded too (a window of `window` unacked messages).
            while sent - acked.load(ordering: .acquiring) >= window { usleep(50) }
            let rc = payload.withUnsafeBytes {
                mosquitto_publish(mosq, nil, topic, Int32($0.count), $0.baseAddress, 1, false)
            }
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw BenchError("raw publish failed: \(rc)") }
            sent += 1
        }
        while acked.load(ordering: .acquiring) < payloads.count {
            if Date().timeIntervalSince(start) > 300 { throw BenchError("raw publisher stalled") }
            usleep(200)
        }
        let seconds = Date().timeIntervalSince(start)
        if ackTopic != nil {
            // The drain's end: every message acked by the stand-in hub (it acks each message once).
            while acksReceived.load(ordering: .relaxed) < payloads.count {
                if Date().timeIntervalSince(start) > 300 { throw BenchError("raw publisher: acks stalled") }
                usleep(200)
            }
            lastAckedSeconds = Date().timeIntervalSince(start)
        }
        mosquitto_disconnect(mosq)
        mosquitto_loop_stop(mosq, false)
        return seconds
    }
}

private func rawOnPublish(_: OpaquePointer?, _: UnsafeMutableRawPointer?, _: Int32) {
    RawPublisher.acked.add(1, ordering: .releasing)
}

/// Connected: subscribes to the ack topic first when there is one, and counts as connected once the broker
/// granted it (`rawOnSubscribe`).
private func rawOnConnect(_ mosq: OpaquePointer?, _: UnsafeMutableRawPointer?, _ rc: Int32) {
    guard rc == 0 else { return }
    if let topic = RawPublisher.ackTopic {
        _ = mosquitto_subscribe(mosq, nil, topic, 1)
    } else {
        RawPublisher.connected.store(true, ordering: .releasing)
    }
}

private func rawOnSubscribe(
    _: OpaquePointer?, _: UnsafeMutableRawPointer?, _: Int32, _: Int32, _: UnsafePointer<Int32>?
) {
    RawPublisher.connected.store(true, ordering: .releasing)
}

private func rawOnMessage(_: OpaquePointer?, _: UnsafeMutableRawPointer?, _: UnsafePointer<mosquitto_message>?) {
    RawPublisher.acksReceived.add(1, ordering: .relaxed)
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Prints a line at once (stdout to a file is block-buffered; progress should show as it happens).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
