import CMosquitto
import Foundation
import Synchronization

/// The baseline: a plain libmosquitto publisher (threaded loop, QoS 1, bounded in-flight window), written the way a
/// C programmer would, publishing the same payloads one message each.
enum RawPublisher {
    static let acked = Atomic<Int>(0)
    static let connected = Atomic<Bool>(false)

    /// Publishes `payloads` to `topic` and returns the seconds from first publish to last PUBACK.
    static func run(port: Int, topic: String, payloads: [[UInt8]], window: Int) throws -> Double {
        mosquitto_lib_init()
        guard let mosq = mosquitto_new("bench-raw", true, nil) else { throw BenchError("mosquitto_new failed") }
        defer { mosquitto_destroy(mosq) }
        mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5)
        mosquitto_max_inflight_messages_set(mosq, UInt32(window))
        mosquitto_publish_callback_set(mosq, rawOnPublish)
        mosquitto_connect_callback_set(mosq, rawOnConnect)
        acked.store(0, ordering: .relaxed)
        connected.store(false, ordering: .relaxed)
        guard mosquitto_loop_start(mosq) == MOSQ_ERR_SUCCESS.rawValue,
            mosquitto_connect_async(mosq, "127.0.0.1", Int32(port), 30) == MOSQ_ERR_SUCCESS.rawValue
        else { throw BenchError("raw connect failed") }
        let deadline = Date().addingTimeInterval(10)
        while !connected.load(ordering: .acquiring) && Date() < deadline { usleep(1000) }
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
        mosquitto_disconnect(mosq)
        mosquitto_loop_stop(mosq, false)
        return seconds
    }
}

private func rawOnPublish(_: OpaquePointer?, _: UnsafeMutableRawPointer?, _: Int32) {
    RawPublisher.acked.add(1, ordering: .releasing)
}

private func rawOnConnect(_: OpaquePointer?, _: UnsafeMutableRawPointer?, _ rc: Int32) {
    if rc == 0 { RawPublisher.connected.store(true, ordering: .releasing) }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Prints a line at once (stdout to a file is block-buffered; progress should show as it happens).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
