import DabbaMQTT
import DabbaTestSupport
import Synchronization
import Testing

extension MQTTTests {
    /// A consumer that stops taking events pauses the network thread (the buffer stays near the limit instead of
    /// holding the whole burst), and once it takes them again every message arrives, in order: nothing is dropped.
    @Test func laggingConsumerPausesTheNetworkThreadAndLosesNothing() async throws {
        let broker = try await MosquittoBroker.started(extraConfig: ["max_queued_messages 5000"])
        var configuration = MQTTConfiguration(port: broker.port, clientID: uniqueID("bp-sub"))
        configuration.eventBufferLimit = 16
        let client = MQTTClient(configuration: configuration, logger: testLogger("bp-sub"))
        client.subscribe("dabba/test/bp", qos: .atLeastOnce)
        let run = Task { try await client.run() }
        var events = client.events.makeAsyncIterator()
        // Take events only up to the session's start; then stop consuming.
        while let event = await events.next() {
            if event.connectedSession != nil { break }
        }
        #expect(await eventually { client.isSubscribed })

        let total = 400
        let publisher = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("bp-pub")))
        #expect(await publisher.waitConnected())
        for i in 0..<total {
            _ = try publisher.client.publish(topic: "dabba/test/bp", payload: Array("\(i)".utf8), qos: .atLeastOnce)
        }

        #expect(
            await eventually { client.backPressurePauses > 0 },
            "the network thread waits for the consumer once 16 events are queued")

        var received: [String] = []
        while received.count < total, let event = await events.next() {
            if let message = event.message { received.append(message.payloadString) }
        }
        #expect(received == (0..<total).map(String.init), "every message arrives once, in order")
        await publisher.stop()
        client.shutdown()
        _ = try? await run.value
    }
}
