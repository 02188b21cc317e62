import DabbaMQTT
import Logging

/// Diagnostic baseline between the raw publisher and the agent: the agent's own MQTT client (`DabbaMQTT`: its
/// network thread, poll loop and event stream), publishing the same messages with the same window from one task,
/// without the engine (no outbox reads, no acks, no deletes). Tells the client's share of the agent's gap to the raw
/// publisher from the engine's.
enum ClientPublisher {
    /// Publishes `payloads` to `topic` with at most `window` unacked; the seconds from first publish to last PUBACK.
    static func run(port: Int, topic: String, payloads: [[UInt8]], window: Int, logger: Logger) async throws -> Double {
        var configuration = MQTTConfiguration(host: "127.0.0.1", port: port, clientID: "bench-client-publisher")
        configuration.maxInflight = window + 10
        let mqtt = MQTTClient(configuration: configuration, logger: logger)
        let running = Task { try await mqtt.run() }
        defer { running.cancel() }
        var events = mqtt.events.makeAsyncIterator()
        connecting: while let event = await events.next() {
            if case .connected = event { break connecting }
        }
        let clock = ContinuousClock()
        let start = clock.now
        var next = 0
        var inFlight = 0
        var acked = 0
        while acked < payloads.count {
            while inFlight < window, next < payloads.count {
                _ = try mqtt.publish(topic: topic, payload: payloads[next], qos: .atLeastOnce)
                next += 1
                inFlight += 1
            }
            guard let event = await events.next() else { throw BenchError("the MQTT client stopped") }
            switch event {
            case .published:
                acked += 1
                inFlight -= 1
            case .publishFailed(_, let reason): throw BenchError("client publisher: publish failed: \(reason)")
            case .disconnected(let reason): throw BenchError("client publisher: disconnected: \(reason)")
            default: break
            }
        }
        let elapsed = clock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
