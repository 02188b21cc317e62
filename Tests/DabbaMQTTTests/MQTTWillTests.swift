import DabbaMQTT
import DabbaTestSupport
import Testing

extension MQTTTests {
    @Test func willIsPublishedOnCrashButNotOnCleanShutdown() async throws {
        let broker = try await MosquittoBroker.started()
        let watcher = try await TestSubscriber.start(port: broker.port, filter: "dabba/test/will/#")

        // C shuts down cleanly: DISCONNECT, so its Will must not be published.
        let cleanWill = MQTTMessage(topic: "dabba/test/will/c", string: "offline-c", qos: .atLeastOnce, retain: true)
        let c = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("will-c"), will: cleanWill))
        #expect(await c.waitConnected())
        await c.stop()
        #expect(c.events.last?.disconnectReason == "shutdown")

        // A "crashes" (socket closed without DISCONNECT): the broker publishes its retained Will.
        let crashWill = MQTTMessage(topic: "dabba/test/will/a", string: "offline-a", qos: .atLeastOnce, retain: true)
        let a = RunningClient(
            MQTTConfiguration(port: broker.port, clientID: uniqueID("will-a"), keepAlive: 5, will: crashWill))
        #expect(await a.waitConnected())
        a.client.shutdown(sendDisconnect: false)
        _ = try? await a.runTask.value

        // E sets its Will with setWill before running; it applies to the session.
        let laterWill = MQTTMessage(topic: "dabba/test/will/e", string: "offline-e", qos: .atLeastOnce, retain: false)
        let e = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("will-e"))) {
            $0.setWill(laterWill)
        }
        #expect(await e.waitConnected())
        e.client.shutdown(sendDisconnect: false)
        _ = try? await e.runTask.value

        let seen = await watcher.waitFor(count: 2)
        #expect(seen.map(\.topic) == ["dabba/test/will/a", "dabba/test/will/e"], "C's Will never appears")
        #expect(seen.first?.payloadString == "offline-a")
        #expect(seen.last?.payloadString == "offline-e")

        // The crash Will was retained: a late subscriber sees it, flagged retained.
        let late = try await TestSubscriber.start(port: broker.port, filter: "dabba/test/will/a")
        #expect(await late.waitFor(count: 1) == [crashWill])
        await late.stop()
        await watcher.stop()
    }
}
