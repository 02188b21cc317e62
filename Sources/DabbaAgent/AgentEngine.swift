import DabbaCore
import DabbaGPS
import DabbaMQTT
import DabbaProtocol
import DabbaSQLite
import Logging

/// The agent's core: owns the outbox and decides what goes on which lane.
///
/// Runs on its own thread (a `ThreadExecutor`), so SQLite commits never block Swift's cooperative pool. Inputs are
/// GPS events, MQTT events (PUBACKs, acks, tasks, connection changes), control commands and a periodic `tick()`.
///
/// Delivery follows DESIGN.md: a row is committed before it is sent; a PUBACK marks it sent (in memory); the hub's
/// ack deletes it; sent rows without an ack are sent again after `ackTimeout` or a reconnect.
public actor AgentEngine {
    private let executor: ThreadExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    let configuration: AgentConfiguration
    var outbox: Outbox
    let mqtt: MQTTClient
    let logger: Logger
    var counters = AgentCounters()

    // Session state (cleared on every (re)connect).
    var connected = false
    var session = 0
    var inFlight: [MQTTMessageID: (seqs: [Int64], backlog: Bool)] = [:]
    var backlogInFlight = 0
    var tracked = RowTracker()
    /// The backlog pump has handed out every row up to here in this session.
    var cursor: Int64 = 0
    /// Rows the last backlog read stepped over because they were already in flight or sent (live fixes, or the
    /// rows of other messages after the cursor moved back): the next read takes that many more (at most four
    /// batches more), so its message is still full. Reading a fixed surplus instead (up to four batches on every
    /// read, most of it never used) was a third of the drain's time.
    var backlogSkipped = 0
    /// The hub's acks not applied yet: their rows are deleted together (``applyAcks()``) once they cover
    /// ``ackBatchRows`` rows, as soon as the backlog lane has nothing in flight, at every tick, before a session is
    /// forgotten, for `status` and at close. Their rows stay tracked until then, so none is sent again; a crash before
    /// the delete brings them back, and they are sent again (the hub acks and drops duplicates). One delete
    /// transaction per ack, on the thread that also takes the PUBACKs, was what bounded the drain (BENCHMARKS.md).
    var pendingAcks: [ClosedRange<Int64>] = []
    var pendingAckRows = 0
    /// Acked rows applied in one delete during a drain (ten backlog messages at the default batch).
    static let ackBatchRows = 1_000
    /// Fixes per backlog message in this session (halved when the broker refuses a message as too large).
    var batchCap: Int
    var tokens: Double = 0
    var lastRefill: Int64 = monotonicMilliseconds()

    // GPS state.
    var gpsConnected = false
    var lastFix: GPSFix?
    var lastFixAt: Int64?
    var lastFixSeq: Int64?
    var gpsHasFix = false

    // Disk-full handling.
    var diskFullSince: Int64?
    var lastDiskFullLog: Int64 = 0

    // Refused publishes and storage health (AgentEngine+Health.swift).
    var refusal = RefusalState()
    /// The last outbox failure other than a full disk, until a write succeeds again (`status` exits 1 on it).
    var storageError: String?
    var lastCheckpointLog: Int64 = 0

    var lastStatePublish: Int64 = 0
    var lastStatus = ""
    /// The task sync with the hub (AgentEngine+Sync.swift).
    var taskSync = TaskSyncState()

    public init(configuration: AgentConfiguration, outbox: Outbox, mqtt: MQTTClient, logger: Logger) {
        self.executor = ThreadExecutor(name: "dabba-outbox")
        self.configuration = configuration
        self.outbox = outbox
        self.mqtt = mqtt
        self.logger = logger
        self.batchCap = configuration.backlogBatch
    }

    /// Stops the engine's thread; call once nothing will message the engine again.
    public nonisolated func stopThread() { executor.shutdown() }

    // MARK: GPS

    /// Handles one event from the gpsd reader.
    public func handle(_ event: GPSEvent) {
        let before = gpsState
        defer { if gpsState != before { publishState() } }
        switch event {
        case .connected:
            gpsConnected = true
        case .disconnected:
            if gpsConnected { counters.gpsReconnects += 1 }
            gpsConnected = false
            gpsHasFix = false
        case .noFix:
            gpsHasFix = false
        case .malformed:
            counters.gpsMalformed += 1
        case .fix(let fix):
            gpsHasFix = true
            lastFix = fix
            lastFixAt = monotonicMilliseconds()
            // gpsd repeats the current epoch to a client that (re)connects: an epoch already recorded (before a
            // restart, say) is not recorded twice. A clock that jumped back further is recorded as it comes.
            let newest = outbox.lastFixTime
            if fix.timeMilliseconds <= newest && fix.timeMilliseconds >= newest &- 5_000 { return }
            record(fix)
        case .futureFix:
            // gpsd has a fix, dated far ahead of the synchronised clock: the reader refused it and logged it.
            gpsHasFix = true
            counters.gpsFutureFixes += 1
        }
    }

    /// Commits a fix with the next seq, then sends it at once on the live lane when connected.
    func record(_ gps: GPSFix) {
        let agent = configuration.agentID
        let time = Timestamp.format(milliseconds: gps.timeMilliseconds)
        func payload(_ seq: Int64) -> [UInt8] {
            Fix(
                agent: agent, seq: seq, time: time, lat: gps.latitude, lon: gps.longitude,
                alt: gps.altitude, speed: gps.speed, track: gps.track, hacc: gps.horizontalAccuracy,
                mode: gps.mode
            ).jsonBytes()
        }
        do {
            let row = try outbox.append(kind: .fix, time: gps.timeMilliseconds, makePayload: payload)
            counters.fixesRecorded += 1
            lastFixSeq = row.seq
            diskRecovered()
            if connected { publishLive(row) }
        } catch {
            outboxFailed(error, while: "recording a fix")
            // Keep the live lane going without the outbox: the fix is sent once, not stored.
            if connected, !publishingPaused(), let seq = outbox.reserveVolatileSeq() {
                lastFixSeq = seq
                do {
                    _ = try mqtt.publish(topic: Topics.fix(agent: agent), payload: payload(seq), qos: .atLeastOnce)
                    counters.livePublished += 1
                } catch {
                    counters.publishFailed += 1  // sent once, not stored: a lost live fix is counted, not hidden
                }
            }
        }
        pump()
    }
}
