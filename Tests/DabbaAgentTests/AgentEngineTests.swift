import DabbaAgent
import DabbaCore
import DabbaGPS
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import Logging
import Testing

/// The engine in-process against a real mosquitto, fed GPS events directly.
@Suite(.serialized) struct AgentEngineTests {
    func configuration(port: Int, directory: TestDirectory, flags: [String: String] = [:]) throws
        -> AgentConfiguration
    {
        try AgentConfiguration(
            LayeredConfiguration(
                keys: AgentConfiguration.keys, file: nil, environment: [:],
                flags: ["agent-id": "a-1", "mqtt-port": "\(port)", "outbox": directory.path("o.db")].merging(flags) {
                    $1
                }))
    }

    func fix(_ i: Int) -> GPSEvent {
        .fix(GPSFix(timeMilliseconds: 1_795_082_400_000 + Int64(i) * 1000, latitude: 22.3, longitude: 87.3, mode: 2))
    }

    @Test func diskFullKeepsTheLiveLaneAndRecoversWhenSpaceReturns() async throws {
        let directory = try TestDirectory("engine-full")
        defer { directory.remove() }
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let live = try await TestSubscriber.start(port: broker.port, filter: Topics.fix(agent: "a-1"))
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let c = try configuration(port: broker.port, directory: directory)
        var options = Outbox.Options()
        options.maxPageCount = 12  // a tiny "disk"
        let outbox = try Outbox(path: c.outboxPath, options: options, logger: logger)
        let mqtt = MQTTClient(configuration: MQTTConfiguration(port: broker.port, clientID: "engine"), logger: logger)
        let engine = AgentEngine(configuration: c, outbox: outbox, mqtt: mqtt, logger: logger)
        let run = Task { try? await mqtt.run() }
        let forward = Task { await engine.consume(mqtt.events) }
        defer {
            mqtt.shutdown()
            forward.cancel()
            run.cancel()
        }
        #expect(await eventually { await engine.status().broker == "connected" })
        await engine.handle(.connected)

        // Record until the "disk" is full, then some more.
        var i = 0
        while await !engine.status().diskFull, i < 2000 {
            i += 1
            await engine.handle(fix(i))
        }
        #expect(await engine.status().diskFull, "never filled")
        let stored = await engine.status().outboxDepth
        for _ in 0..<5 {
            i += 1
            await engine.handle(fix(i))
        }
        let full = await engine.status()
        #expect(full.diskFull && full.counters.diskFull >= 6)
        #expect(full.outboxDepth == stored)
        // The live lane kept going: every fix, stored or not, went out with a strictly increasing seq.
        let messages = await live.waitFor(count: i)
        let seqs = try messages.map { try PayloadCoding.decode(Fix.self, from: $0.payload).seq }
        #expect(seqs.count == i)
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)

        // Space returns (the hub acks what was stored): recording resumes, with the next seq.
        let ack = AckMessage(agent: "a-1", ranges: [1...full.lastSeq])
        await engine.handle(
            .message(
                MQTTMessage(topic: Topics.ack(agent: "a-1"), payload: PayloadCoding.encode(ack), qos: .atLeastOnce)))
        i += 1
        await engine.handle(fix(i))
        let recovered = await engine.status()
        #expect(!recovered.diskFull)
        #expect(recovered.outboxDepth == 1)
        #expect(recovered.lastSeq == full.lastSeq + 1)
        #expect(try await runToCompletion("/usr/bin/sqlite3", [c.outboxPath, "PRAGMA integrity_check"]).1 == "ok\n")
        await live.stop()
    }

    /// `backlog-rate` empties its token bucket again and again during a drain; a pump that finds it empty returns,
    /// and when that happens as the last message in flight is PUBACKed no MQTT event is left to call it again: the
    /// daemon's tick (every second; `RunningEngine`'s, every 100 ms) does. (The drain benchmark drove the engine
    /// without ticks and its week's drain stalled for good under load.)
    @Test func aRateLimitedDrainGoesOnAfterItsBucketRunsDry() async throws {
        let directory = try TestDirectory("engine-rate")
        defer { directory.remove() }
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let backlog = try await TestSubscriber.start(port: broker.port, filter: Topics.backlog(agent: "a-1"))
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let c = try configuration(port: broker.port, directory: directory, flags: ["backlog-rate": "400"])
        let outbox = try Outbox(path: c.outboxPath, logger: logger)
        try outbox.appendFixes(1_200, agent: "a-1")
        let (engine, stop) = RunningEngine.start(c, outbox: outbox, port: broker.port, logger: logger)
        defer { stop() }
        // ~3 s at 400 fixes a second; the deadline is generous for a loaded machine.
        let drained = await eventually(timeout: .seconds(120)) {
            await engine.status().counters.rowsPubacked >= 1_200
        }
        let status = await engine.status()
        #expect(drained, "\(status.counters)")
        // Every row went out (the newest on the live lane), in batches no larger than the configured batch.
        func batches() -> [[Int64]] {
            backlog.messages.compactMap { try? PayloadCoding.decode(BacklogMessage.self, from: $0.payload) }
                .map { $0.fixes.map(\.seq) }
        }
        let arrived = await eventually { Set(batches().joined()).count >= 1_199 }
        #expect(arrived, "\(Set(batches().joined()).count) fixes in \(backlog.messages.count) messages")
        #expect(batches().allSatisfy { !$0.isEmpty && $0.count <= c.backlogBatch })
        await backlog.stop()
    }

    @Test func brokerRefusingLargeBatchesMakesThemSmallerInsteadOfStalling() async throws {
        let directory = try TestDirectory("engine-oversize")
        defer { directory.remove() }
        let broker = try await MosquittoBroker.started(directory: directory, extraConfig: ["max_packet_size 8192"])
        defer { broker.stop() }
        let backlog = try await TestSubscriber.start(port: broker.port, filter: Topics.backlog(agent: "a-1"))
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        // No rate limit: every backlog message is a full batch (100 fixes, ~17 KB) until the broker refuses one.
        // With the default rate the token bucket, refilled by the clock, decides the size of a batch, and on a
        // quick start it never grows past the broker's limit (nothing is refused, and nothing is tested).
        let c = try configuration(port: broker.port, directory: directory, flags: ["backlog-rate": "0"])
        func payload(_ i: Int, _ seq: Int64) -> [UInt8] {
            Fix(
                agent: "a-1", seq: seq, time: Timestamp.format(milliseconds: Int64(i) * 1000), lat: 22.3, lon: 87.3,
                alt: 30, speed: 5, track: 90, hacc: 3, mode: 3
            ).jsonBytes()
        }
        #expect(c.backlogBatch * payload(1, 1).count > 8192, "a full batch no longer exceeds the broker's limit")
        let outbox = try Outbox(path: c.outboxPath, logger: logger)
        for i in 1...500 {
            try outbox.append(kind: .fix, time: Int64(i) * 1000) { seq in payload(i, seq) }
        }
        let (engine, stop) = RunningEngine.start(c, outbox: outbox, port: broker.port, logger: logger)
        defer { stop() }
        // 100 fixes (~17 KB) exceed the broker's 8 KB limit: the lane halves its batches and goes on.
        let arrived = await eventually {
            let seqs = backlog.messages.compactMap { try? PayloadCoding.decode(BacklogMessage.self, from: $0.payload) }
                .flatMap { $0.fixes.map(\.seq) }
            return Set(seqs).count >= 499  // the newest went out on the live lane
        }
        #expect(arrived, "received \(backlog.messages.count) backlog messages")
        let status = await engine.status()
        #expect(status.counters.publishFailed >= 1)
        #expect(backlog.messages.allSatisfy { $0.payload.count <= 8192 })
        await backlog.stop()
    }
}

/// Publishes the broker refuses (issue 12, item 4): backed off, not resent in a hot loop.
@Suite(.serialized) struct AgentRefusedPublishTests {
    @Test func anACLThatDeniesTheAgentsTopicsGetsBoundedAttempts() async throws {
        let directory = try TestDirectory("engine-acl")
        defer { directory.remove() }
        // Anonymous clients may read everything and write nothing: every publish is refused (MQTT 5: PUBACK 0x87).
        let acl = directory.path("deny.acl")
        try "topic read #\n".write(toFile: acl, atomically: true, encoding: .utf8)
        let broker = try await MosquittoBroker.started(directory: directory, aclFile: acl)
        defer { broker.stop() }
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let c = try AgentConfiguration(
            LayeredConfiguration(
                keys: AgentConfiguration.keys, file: nil, environment: [:],
                flags: ["agent-id": "a-1", "mqtt-port": "\(broker.port)", "outbox": directory.path("o.db")]))
        let outbox = try Outbox(path: c.outboxPath, logger: logger)
        try outbox.appendFixes(500, agent: "a-1")
        let (engine, stop) = RunningEngine.start(c, outbox: outbox, port: broker.port, logger: logger)
        defer { stop() }
        #expect(await eventually { await engine.status().broker == "connected" })
        let start = ContinuousClock.now
        // Rounds of refusals: the first burst (the live fix, backlog messages in flight), then one probe after
        // each backoff step (1 s, 2 s, 4 s …, each jittered down to as little as half).
        let refused = await eventually { await engine.status().counters.publishRefused >= 4 }
        let afterWait = await engine.status().counters
        #expect(refused, "\(afterWait)")
        let elapsed = ContinuousClock.now - start
        let status = await engine.status()
        // At most one window of messages in the first burst, then one probe per backoff step: a hot loop would
        // have sent thousands in the same time.
        let bound =
            c.backlogWindow + Backoff.mostAttempts(within: elapsed, initial: .seconds(1), maximum: .seconds(60))
        #expect(status.counters.publishRefused <= Int64(bound), "\(status.counters) in \(elapsed)")
        #expect(status.counters.backlogMessages <= Int64(bound), "\(status.counters) in \(elapsed)")
        // Nothing was lost: every row is still in the outbox.
        #expect(status.outboxDepth == 500)
    }
}

/// An engine wired as the daemon wires it (`AgentApplication`): a real MQTT client with the agent's in-flight bound
/// and its `ack` and `tasks` subscriptions feeding it events, and a main loop ticking it (timeouts, backlog). `stop`
/// ends all three.
enum RunningEngine {
    static func start(_ c: AgentConfiguration, outbox: sending Outbox, port: Int, logger: Logger) -> (
        AgentEngine, stop: @Sendable () -> Void
    ) {
        var configuration = MQTTConfiguration(port: port, clientID: "engine")
        configuration.maxInflight = c.backlogWindow + 10
        let mqtt = MQTTClient(configuration: configuration, logger: logger)
        mqtt.subscribe(Topics.ack(agent: c.agentID), qos: .atLeastOnce)
        mqtt.subscribe(Topics.tasks(agent: c.agentID), qos: .atLeastOnce)
        let engine = AgentEngine(configuration: c, outbox: outbox, mqtt: mqtt, logger: logger)
        let run = Task { try? await mqtt.run() }
        let forward = Task { await engine.consume(mqtt.events) }
        let ticks = Task {
            while !Task.isCancelled {
                _ = await engine.tick()
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        return (
            engine,
            {
                mqtt.shutdown()
                forward.cancel()
                ticks.cancel()
                run.cancel()
            }
        )
    }
}

extension Outbox {
    /// Records `count` fixes of `agent`, a second apart from the epoch.
    func appendFixes(_ count: Int, agent: String) throws {
        for i in 1...count {
            try append(kind: .fix, time: Int64(i) * 1000) { seq in
                Fix(agent: agent, seq: seq, time: Timestamp.format(milliseconds: Int64(i) * 1000), lat: 22, lon: 87)
                    .jsonBytes()
            }
        }
    }
}
