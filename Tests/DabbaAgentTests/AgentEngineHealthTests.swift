@testable import DabbaAgent
import DabbaCore
import DabbaGPS
import DabbaMQTT
import DabbaProtocol
import DabbaSQLite
import DabbaTestSupport
import Foundation
import Logging
import Testing

/// The engine's smaller defences, in-process without a broker (issue 12, item 7).
@Suite struct AgentEngineHealthTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func engine(_ dir: TestDirectory) throws -> AgentEngine {
        let c = try AgentConfiguration(
            LayeredConfiguration(
                keys: AgentConfiguration.keys, file: nil, environment: [:],
                flags: ["agent-id": "a-1", "mqtt-port": "\(FreePort.next())", "outbox": dir.path("o.db")]))
        let outbox = try Outbox(path: c.outboxPath, logger: logger)
        let mqtt = MQTTClient(configuration: MQTTConfiguration(port: c.mqttPort, clientID: "health"), logger: logger)
        return AgentEngine(configuration: c, outbox: outbox, mqtt: mqtt, logger: logger)
    }

    func fix(_ i: Int) -> GPSEvent {
        .fix(GPSFix(timeMilliseconds: 1_795_082_400_000 + Int64(i) * 1000, latitude: 22.3, longitude: 87.3, mode: 2))
    }

    func ack(_ ranges: [ClosedRange<Int64>]) -> MQTTEvent {
        .message(
            MQTTMessage(topic: Topics.ack(agent: "a-1"), payload: AckMessage(agent: "a-1", ranges: ranges).jsonBytes()))
    }

    @Test func acksForSeqsNeverIssuedAreIgnoredAndCounted() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let engine = try engine(dir)
        defer { engine.stopThread() }
        for i in 1...5 { await engine.handle(fix(i)) }
        #expect(await engine.status().lastSeq == 5)
        // Entirely beyond the last seq: nothing is deleted.
        await engine.handle(ack([6...10]))
        #expect(await engine.status().outboxDepth == 5)
        #expect(await engine.status().counters.ackUnissued == 1)
        // Partly beyond: the issued part applies, the rest is ignored and counted.
        await engine.handle(ack([1...2, 4...1_000]))
        let status = await engine.status()
        #expect(status.outboxDepth == 1)
        #expect(status.counters.ackUnissued == 2)
        #expect(status.counters.rowsAcked == 4)
        let left = try await engine.withOutbox { try $0.rows(after: 0, limit: 10).map(\.seq) }
        #expect(left == [3])
        // A well-formed ack within the issued seqs is not counted.
        await engine.handle(ack([3...3]))
        #expect(await engine.status().counters.ackUnissued == 2)
    }

    @Test func aStorageFailureOtherThanAFullDiskDegradesTheStatusUntilAWriteSucceeds() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let engine = try engine(dir)
        defer { engine.stopThread() }
        await engine.handle(.connected)
        await engine.handle(fix(1))
        #expect(await engine.status().storageError == nil)
        // SQLite refuses every write (what a file system remounted read-only does to it).
        try await engine.withOutbox { try $0.db.execute("PRAGMA query_only = 1") }
        await engine.handle(fix(2))
        let failing = await engine.status()
        #expect(failing.storageError != nil)
        #expect(!failing.diskFull)
        #expect(failing.counters.outboxErrors == 1)
        #expect(failing.isDegraded, "status must exit 1 while writes fail")
        #expect(await engine.tick().contains("STORAGE FAILING"))
        // Writes work again: the next fix is stored and the status recovers.
        try await engine.withOutbox { try $0.db.execute("PRAGMA query_only = 0") }
        await engine.handle(fix(3))
        let recovered = await engine.status()
        #expect(recovered.storageError == nil)
        #expect(recovered.lastSeq == 2)
    }
}
