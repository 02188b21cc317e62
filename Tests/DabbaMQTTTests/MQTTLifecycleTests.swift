import DabbaTestSupport
import ServiceLifecycle
import Testing

@testable import DabbaMQTT

/// "Promptly" in these tests is measured against what the client would otherwise wait for, made long here (a
/// reconnect delay of at least 60 s, a graceful-shutdown limit of 60 s, or for ever): 20 s is far from those and far
/// above any scheduling delay on a loaded machine.
private let prompt: Duration = .seconds(20)

extension MQTTTests {
    @Test func runReturnsPromptlyOnCancellation() async throws {
        let broker = try await MosquittoBroker.started()
        let client = RunningClient(MQTTConfiguration(port: broker.port, clientID: uniqueID("cancel")))
        #expect(await client.waitConnected())
        let started = ContinuousClock.now
        client.runTask.cancel()
        try await client.runTask.value
        #expect(ContinuousClock.now - started < prompt)
        #expect(await eventually { client.isStreamFinished })
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
        #expect(ContinuousClock.now - started < prompt)
        #expect(await eventually { connected.isStreamFinished })
        await #expect(throws: MQTTError.self) {
            try await connected.client.publishAndWait(MQTTMessage(topic: "dabba/test/x", string: "late"))
        }

        // Nobody listens: the client is waiting out a long reconnect delay (60–120 s) when asked to stop.
        let unused = FreePort.next()
        let backingOff = RunningClient(
            MQTTConfiguration(
                port: unused, clientID: uniqueID("backoff"), maxBackoff: .seconds(120), initialBackoff: .seconds(120)))
        #expect(await backingOff.waitForEvents { $0.count { $0.disconnectReason != nil } >= 1 })
        started = ContinuousClock.now
        backingOff.client.shutdown()
        try await backingOff.runTask.value
        #expect(ContinuousClock.now - started < prompt)
        #expect(await eventually { backingOff.isStreamFinished })
        #expect(backingOff.events.count { $0.disconnectReason != nil } == 1, "no second attempt before the stop")
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
        // Cancelled once it is in flight (its message id waits for a PUBACK), not before it started.
        #expect(await eventually(interval: .milliseconds(5)) { client.client.state.withLock { !$0.pending.isEmpty } })
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
        configuration.maximumGracefulShutdownDuration = .seconds(60)  // then it cancels: bounded either way
        let group = ServiceGroup(configuration: configuration)
        let running = Task { try await group.run() }
        #expect(await eventually { client.isConnected })
        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(ContinuousClock.now - started < prompt, "it stopped gracefully, not by the group's cancellation")
        #expect(!client.isConnected)
        // A clean DISCONNECT: the Will is not published (checked after a marker that travels the same path).
        try await watcher.client.publishAndWait(MQTTMessage(topic: "dabba/test/svc/marker", string: "m"))
        #expect(await watcher.waitFor(count: 1).map(\.topic) == ["dabba/test/svc/marker"])
        await watcher.stop()
    }
}
