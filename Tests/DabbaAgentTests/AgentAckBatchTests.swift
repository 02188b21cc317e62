import DabbaAgent
import DabbaCore
import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Logging
import Testing

/// During a backlog drain the hub's acks are applied in batches (``AgentEngine`` keeps them until they cover
/// `ackBatchRows` rows or the lane is idle): every row is still sent once, deleted once acked, and never sent again
/// while its delete waits.
@Suite struct AgentAckBatchTests {
    @Test func aDrainIsSentOnceAndEmptiedWhileItsAcksAreAppliedInBatches() async throws {
        let directory = try TestDirectory("engine-ack-batches")
        defer { directory.remove() }
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let acker = Acker(host: "127.0.0.1", port: broker.port, clientID: "ack-batch-acker", logger: logger)
        let acking = Task { try? await acker.run() }
        defer {
            acker.shutdown()
            acking.cancel()
        }
        #expect(await eventually(timeout: .seconds(30)) { acker.isSubscribed })

        // 2,500 fixes buffered offline: 25 backlog messages of 100, acks covering ten messages per delete.
        let count = 2_500
        let path = directory.path("outbox.db")
        do {
            let outbox = try Outbox(path: path, options: Outbox.Options(), logger: logger)
            let start: Int64 = 1_795_082_400_000
            for i in 0..<count {
                let time = start + Int64(i) * 1000
                _ = try outbox.append(kind: .fix, time: time) { seq in
                    PayloadCoding.encode(
                        Fix(
                            agent: "a-1", seq: seq, time: Timestamp.format(milliseconds: time), lat: 22.3, lon: 87.3,
                            mode: 2))
                }
            }
        }
        let configuration = try AgentConfiguration(
            LayeredConfiguration(
                keys: AgentConfiguration.keys, file: nil, environment: [:],
                flags: [
                    "agent-id": "a-1", "mqtt-port": "\(broker.port)", "outbox": path, "backlog-rate": "0",
                    "backlog-batch": "100", "backlog-window": "10",
                ]))
        let (engine, stop) = RunningEngine.start(
            configuration, outbox: try Outbox(path: path, options: Outbox.Options(), logger: logger),
            port: broker.port, logger: logger)
        defer { stop() }

        #expect(await eventually(timeout: .seconds(60)) { await engine.status().outboxDepth == 0 })
        let status = await engine.status()
        #expect(status.outboxDepth == 0 && status.unacked == 0)
        #expect(status.counters.rowsAcked == Int64(count))
        #expect(status.counters.resentAfterTimeout == 0)
        // Every seq reached the hub's stand-in exactly once: none was sent again while its delete waited.
        let received = acker.received.withLock { $0["a-1"] ?? [:] }
        #expect(received.count == count)
        #expect(received.values.allSatisfy { $0 == 1 }, "sent twice: \(received.filter { $0.value > 1 }.keys.sorted())")
        #expect(Set(received.keys) == Set(1...Int64(count)))
    }
}
