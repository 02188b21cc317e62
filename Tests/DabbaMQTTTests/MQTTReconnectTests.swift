import DabbaCore
import DabbaMQTT
import DabbaTestSupport
import Testing

extension MQTTTests {
    @Test func retriesUntilBrokerStartsThenReconnectsAfterKillWithANewSession() async throws {
        let broker = try MosquittoBroker()  // configured, not started
        let started = ContinuousClock.now
        let client = RunningClient(
            MQTTConfiguration(port: broker.port, clientID: uniqueID("rc"), maxBackoff: .seconds(1)),
            subscriptions: ["dabba/test/rc/#"])
        #expect(throws: MQTTError.self) {
            try client.client.publish(MQTTMessage(topic: "dabba/test/rc/x", string: "early"))
        }

        // Broker down: attempts keep failing, each reported, with backoff (no busy loop): no more attempts than the
        // delays (250 ms doubling to 1 s, jittered into [½, 1]) allow in the time it took.
        #expect(await client.waitForEvents { $0.count { $0.disconnectReason != nil } >= 3 })
        let failures = client.events.compactMap(\.disconnectReason)
        let elapsed = ContinuousClock.now - started
        let most = Backoff.mostAttempts(within: elapsed, initial: .milliseconds(250), maximum: .seconds(1))
        #expect(failures.count <= most, "\(failures.count) attempts in \(elapsed)")
        #expect(failures.allSatisfy { $0.contains("refused") }, "\(failures)")
        #expect(!client.client.isConnected)
        do {
            try client.client.publish(MQTTMessage(topic: "dabba/test/rc/x", string: "early"))
            Issue.record("publish without a session must throw")
        } catch let error as MQTTError {
            #expect(error.code == .notConnected)
        }

        try await broker.start()
        #expect(await client.waitConnected(session: 1))
        #expect(await eventually { client.client.isSubscribed })

        // Freeze the broker so acknowledgements stay outstanding, then kill it.
        let before = client.events.count
        broker.suspend()
        var mids: [MQTTMessageID] = []
        for i in 0..<5 {
            mids.append(try client.client.publish(MQTTMessage(topic: "dabba/test/rc/pending", string: "\(i)")))
        }
        // Each is outstanding from the moment publish returns, written to the socket or not: all must fail.
        broker.kill9()
        #expect(await client.waitForEvents { $0.dropFirst(before).contains { $0.disconnectReason != nil } })
        let afterKill = Array(client.events.dropFirst(before))
        let failedMids = afterKill.compactMap(\.failedPublish).map(\.mid)
        #expect(failedMids == mids, "every unacknowledged publish fails, in order")
        #expect(afterKill.compactMap(\.failedPublish).allSatisfy { $0.reason == "session ended" })
        let disconnectIndex = try #require(afterKill.firstIndex { $0.disconnectReason != nil })
        let lost = afterKill[disconnectIndex].disconnectReason ?? ""
        #expect(lost.hasPrefix("connection lost"), "\(lost)")
        #expect(
            afterKill.prefix(disconnectIndex).count { $0.failedPublish != nil } == 5, "failures precede disconnected")
        #expect(!client.client.isConnected)

        try await broker.start()
        #expect(await client.waitConnected(session: 2))
        #expect(await eventually { client.client.isSubscribed }, "subscriptions are re-applied on the new session")
        try await client.client.publishAndWait(MQTTMessage(topic: "dabba/test/rc/after", string: "back"))
        #expect(await client.waitForEvents { $0.contains { $0.message?.topic == "dabba/test/rc/after" } })
        #expect(
            !client.events.contains { $0.message?.topic == "dabba/test/rc/pending" }, "a new session resends nothing")
        await client.stop()
    }
}
