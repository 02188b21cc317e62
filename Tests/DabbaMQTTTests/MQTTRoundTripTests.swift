import DabbaMQTT
import DabbaTestSupport
import Testing

@Suite(.serialized) struct MQTTRoundTripTests {
    @Test func roundTripAndRetainedMessage() async throws {
        let broker = try await MosquittoBroker.started()
        let a = RunningClient(
            MQTTConfiguration(port: broker.port, clientID: uniqueID("rt-a")), subscriptions: ["dabba/test/rt/#"])
        #expect(await a.waitConnected())
        #expect(await eventually { a.client.isSubscribed })

        let binary: [UInt8] = [0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF] + Array("{\"v\":1}".utf8)
        try await a.client.publishAndWait(MQTTMessage(topic: "dabba/test/rt/bin", payload: binary, qos: .atLeastOnce))
        try await a.client.publishAndWait(MQTTMessage(topic: "dabba/test/rt/two", string: "exactly", qos: .exactlyOnce))
        let retained = MQTTMessage(topic: "dabba/test/rt/retained", string: "kept", qos: .atLeastOnce, retain: true)
        try await a.client.publishAndWait(retained)

        #expect(await a.waitForEvents { $0.compactMap(\.message).count >= 3 })
        let received = a.events.compactMap(\.message)
        #expect(received.map(\.topic) == ["dabba/test/rt/bin", "dabba/test/rt/two", "dabba/test/rt/retained"])
        #expect(received.first?.payload == binary)
        #expect(received.first?.qos == .atLeastOnce)
        #expect(received.dropFirst().first?.qos == .exactlyOnce)
        #expect(received.last?.retain == false, "a live delivery is not flagged retained")
        // publishAndWait produces no published/publishFailed events.
        #expect(!a.events.contains { $0.publishedID != nil || $0.failedPublish != nil })

        let b = try await TestSubscriber.start(port: broker.port, filter: "dabba/test/rt/retained")
        let got = await b.waitFor(count: 1)
        #expect(got == [MQTTMessage(topic: "dabba/test/rt/retained", string: "kept", qos: .atLeastOnce, retain: true)])
        await b.stop()
        await a.stop()
        broker.stop()
    }
}
