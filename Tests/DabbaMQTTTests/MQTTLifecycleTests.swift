import DabbaMQTT
import DabbaTestSupport
import ServiceLifecycle
import Testing

extension MQTTTests {
    @Test func runReturnsPromptlyOnCancellation() async throws {
        let broker = try await MosquittoBroker.started()
        let client = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("cancel")))
        #expect(await client.waitConnected())
        let started = ContinuousClock.now
        client.runTask.cancel()
        try await client.runTask.value
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(await eventually(timeout: .seconds(2)) { client.isStreamFinished })
        #expect(client.events.last?.disconnectReason == "shutdown")
        #expect(!client.client.isConnected)
    }

    @Test func runReturnsPromptlyOnShutdownWhileConnectedAndWhileBackingOff() async throws {
        let broker = try await MosquittoBroker.started()
        let connected = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("stop")))
        #expect(await connected.waitConnected())
        var started = ContinuousClock.now
        connected.client.shutdown()
        connected.client.shutdown()  // idempotent
        try await connected.runTask.value
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(await eventually(timeout: .seconds(2)) { connected.isStreamFinished })
        await #expect(throws: MQTTError.self) {
            try await connected.client.publishAndWait(MQTTMessage(topic: "dabba/test/x", string: "late"))
        }

        // Nobody listens: the client is between attempts with a long backoff when asked to stop.
        let unused = FreePort.next()
        let backingOff = RunningClient(MQTTConfiguration(port: unused, clientID: uniqueID("backoff")))
        #expect(await backingOff.waitForEvents { $0.count { $0.disconnectReason != nil } >= 3 })
        started = ContinuousClock.now
        backingOff.client.shutdown()
        try await backingOff.runTask.value
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(await eventually(timeout: .seconds(2)) { backingOff.isStreamFinished })
    }

    @Test func runTwiceThrowsAndShutdownBeforeRunFinishesEverything() async throws {
        let broker = try await MosquittoBroker.started()
        let client = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("twice")))
        #expect(await client.waitConnected())
        do {
            try await client.client.run()
            Issue.record("a second run() must throw")
        } catch let error as MQTTError {
            #expect(error.code == .invalidArgument)
        }
        await client.stop()

        let idle = MQTTClient(
            configuration: MQTTConfiguration(port: broker.port, clientID: "idle"), logger: testLogger("idle"))
        idle.shutdown()
        try await idle.run()  // returns at once
        var iterator = idle.events.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }

    @Test func publishAndWaitIsCancellable() async throws {
        let broker = try await MosquittoBroker.started()
        let client = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("wait")))
        #expect(await client.waitConnected())
        broker.suspend()  // no PUBACK will come
        let waiting = Task { try await client.client.publishAndWait(MQTTMessage(topic: "dabba/test/w", string: "x")) }
        try await Task.sleep(for: .milliseconds(200))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        broker.resume()
        await client.stop()
    }

    @Test func gracefulShutdownOfAServiceGroupStopsTheClientCleanly() async throws {
        let broker = try await MosquittoBroker.started()
        let watcher = try await TestSubscriber.start(port: broker.port, filter: "dabba/test/svc/#")
        let will = MQTTMessage(topic: "dabba/test/svc/will", string: "gone", qos: .atLeastOnce)
        let client = MQTTClient(
            configuration: MQTTConfiguration(port: broker.port, clientID: uniqueID("svc"), will: will),
            logger: testLogger("svc"))
        var configuration = ServiceGroupConfiguration(services: [.init(service: client)], logger: testLogger("group"))
        configuration.maximumGracefulShutdownDuration = .seconds(5)  // then it cancels: bounded either way
        let group = ServiceGroup(configuration: configuration)
        let running = Task { try await group.run() }
        #expect(await eventually { client.isConnected })
        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(!client.isConnected)
        // A clean DISCONNECT: the Will is not published (checked after a marker that travels the same path).
        try await watcher.client.publishAndWait(MQTTMessage(topic: "dabba/test/svc/marker", string: "m"))
        #expect(await watcher.waitFor(count: 1).map(\.topic) == ["dabba/test/svc/marker"])
        await watcher.stop()
    }
}
