import DabbaMQTT
import DabbaTestSupport
import Testing

extension MQTTTests {
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
        #expect(received.dropFirst().first?.qos == .atLeastOnce, "delivered at the subscription's QoS 1")
        #expect(received.last?.retain == false, "a live delivery is not flagged retained")
        #expect(!a.events.contains { $0.publishedID != nil || $0.failedPublish != nil }, "publishAndWait emits none")

        // A new subscriber gets the retained message, flagged retained, bytes intact.
        let b = try await TestSubscriber.start(port: broker.port, filter: "dabba/test/rt/retained")
        #expect(await b.waitFor(count: 1) == [retained])
        await b.stop()
        await a.stop()
    }

    @Test func thousandQoS1PublishesAreAcknowledgedAndArriveInOrder() async throws {
        let broker = try await MosquittoBroker.started(extraConfig: ["max_queued_messages 5000"])
        let subscriber = try await TestSubscriber.start(port: broker.port, filter: "dabba/test/bulk")
        let publisher = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("bulk")))
        #expect(await publisher.waitConnected())

        var mids: [MQTTMessageID] = []
        for i in 0..<1000 {
            mids.append(
                try publisher.client.publish(topic: "dabba/test/bulk", payload: Array("\(i)".utf8), qos: .atLeastOnce))
        }
        #expect(Set(mids).count == 1000, "message ids are unique within the session")
        #expect(await publisher.waitForEvents(timeout: .seconds(30)) { $0.count { $0.publishedID != nil } >= 1000 })
        let events = publisher.events
        #expect(Set(events.compactMap(\.publishedID)) == Set(mids))
        #expect(!events.contains { $0.failedPublish != nil })
        #expect(events.first?.connectedSession == 1, "connected comes before any publish result")

        let received = await subscriber.waitFor(count: 1000, timeout: .seconds(30))
        #expect(received.map(\.payloadString) == (0..<1000).map(String.init))
        #expect(received.allSatisfy { $0.topic == "dabba/test/bulk" && $0.qos == .atLeastOnce })
        await subscriber.stop()
        await publisher.stop()
    }
}

extension MQTTTests {
    /// Several tasks publish at once (QoS 0, 1 and 2, with and without waiting) while the client also receives:
    /// no deadlock between the client's lock and libmosquitto's, every publish gets exactly one result.
    @Test func concurrentPublishersAllGetExactlyOneResult() async throws {
        let broker = try await MosquittoBroker.started(extraConfig: ["max_queued_messages 20000"])
        let client = RunningClient(
            MQTTConfiguration(port: broker.port, clientID: uniqueID("stress"), maxInflight: 50),
            subscriptions: ["dabba/test/stress/#"])
        #expect(await client.waitConnected())
        #expect(await eventually { client.client.isSubscribed })

        let perTask = 1500
        let mids = try await withThrowingTaskGroup(of: [MQTTMessageID].self) { group in
            for task in 0..<3 {
                group.addTask {
                    var mids: [MQTTMessageID] = []
                    for i in 0..<perTask {
                        let qos = MQTTQoS(rawValue: Int32(i % 3))!
                        mids.append(
                            try client.client.publish(
                                topic: "dabba/test/stress/\(task)", payload: [UInt8(i % 256)], qos: qos))
                    }
                    return mids
                }
            }
            group.addTask {
                for i in 0..<100 {
                    try await client.client.publishAndWait(MQTTMessage(topic: "dabba/test/stress/wait", string: "\(i)"))
                }
                return []
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(mids.count == 3 * perTask && Set(mids).count == mids.count)
        #expect(await client.waitForEvents(timeout: .seconds(30)) { $0.count { $0.publishedID != nil } >= mids.count })
        let results = client.events.compactMap(\.publishedID)
        #expect(results.count == mids.count && Set(results) == Set(mids), "exactly one result per publish")
        #expect(!client.events.contains { $0.failedPublish != nil })
        // QoS 0 may be dropped by the broker under load, QoS 1/2 not: at least those plus the waited ones arrive.
        let expected = 3 * (2 * perTask / 3) + 100
        #expect(await client.waitForEvents(timeout: .seconds(30)) { $0.count { $0.message != nil } >= expected })
        await client.stop()
    }
}

extension MQTTTests {
    /// MQTT 5 no-local (the hubs' cluster relay subscribes so): the broker does not send a client what it published
    /// itself on a filter it subscribed with no-local, and still sends it everyone else's; without no-local it does.
    @Test func aNoLocalSubscriptionGetsOthersMessagesButNotItsOwn() async throws {
        let broker = try await MosquittoBroker.started()
        let quiet = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("no-local"))) {
            $0.subscribe("dabba/test/nolocal/#", qos: .atLeastOnce, noLocal: true)
        }
        let echoed = RunningClient(
            MQTTConfiguration(port: broker.port, clientID: uniqueID("local")), subscriptions: ["dabba/test/nolocal/#"])
        let other = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("other")))
        for client in [quiet, echoed, other] {
            #expect(await client.waitConnected())
            #expect(await eventually { client.client.isSubscribed })
        }
        // Each one's own message first, then another client's: one subscriber's deliveries keep the broker's order,
        // so once the other's message has arrived, an echo of the own one would have arrived before it.
        try await quiet.client.publishAndWait(
            MQTTMessage(topic: "dabba/test/nolocal/quiet", string: "own", qos: .atLeastOnce))
        try await echoed.client.publishAndWait(
            MQTTMessage(topic: "dabba/test/nolocal/echoed", string: "own", qos: .atLeastOnce))
        try await other.client.publishAndWait(
            MQTTMessage(topic: "dabba/test/nolocal/other", string: "theirs", qos: .atLeastOnce))
        #expect(await quiet.waitForEvents { $0.compactMap(\.message).contains { $0.topic.hasSuffix("/other") } })
        #expect(await echoed.waitForEvents { $0.compactMap(\.message).contains { $0.topic.hasSuffix("/other") } })
        #expect(
            quiet.events.compactMap(\.message).map(\.topic) == [
                "dabba/test/nolocal/echoed", "dabba/test/nolocal/other",
            ])
        #expect(
            echoed.events.compactMap(\.message).map(\.topic) == [
                "dabba/test/nolocal/quiet", "dabba/test/nolocal/echoed", "dabba/test/nolocal/other",
            ])
        for client in [quiet, echoed, other] { await client.stop() }
    }
}
