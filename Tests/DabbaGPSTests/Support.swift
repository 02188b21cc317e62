import DabbaGPS
import DabbaTestSupport
import Logging
import Synchronization
import Testing

/// Collects a reader's events on a task, for assertions.
final class EventLog: Sendable {
    private let store: Box
    private let task: Task<Void, Never>

    final class Box: Sendable {
        let events = Mutex<[GPSEvent]>([])
        let finished = Mutex(false)
    }

    init(_ reader: GPSReader) {
        let store = Box()
        self.store = store
        task = Task {
            for await event in reader.events { store.events.withLock { $0.append(event) } }
            store.finished.withLock { $0 = true }
        }
    }

    var events: [GPSEvent] { store.events.withLock { $0 } }
    var isFinished: Bool { store.finished.withLock { $0 } }

    var fixes: [GPSFix] {
        events.compactMap { if case .fix(let fix) = $0 { fix } else { nil } }
    }

    func count(where predicate: (GPSEvent) -> Bool) -> Int { events.filter(predicate).count }

    /// Waits (bounded) until `condition` holds for the events so far.
    func wait(
        timeout: Duration = .seconds(30), _ condition: @escaping ([GPSEvent]) -> Bool
    ) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(20)) { condition(self.events) }
    }
}

extension GPSEvent {
    var isConnected: Bool { if case .connected = self { true } else { false } }
    var isDisconnected: Bool { if case .disconnected = self { true } else { false } }
    var isNoFix: Bool { if case .noFix = self { true } else { false } }
    var isMalformed: Bool { if case .malformed = self { true } else { false } }
    var isFix: Bool { if case .fix = self { true } else { false } }
    var isFutureFix: Bool { if case .futureFix = self { true } else { false } }
}

extension GpsFake {
    /// Whether the log played out before the reader saw it: no fix among `events`, and gpsd is gone — it closed the
    /// reader's connection, or gpsfake had exited before the reader connected at all. gpsfake replays whether or not
    /// a client watches, so on a starved machine the set-up, not the reader, was late: a test then starts again with
    /// a longer lead-in.
    func playedOutUnseen(_ events: [GPSEvent]) -> Bool {
        !events.contains(where: \.isFix) && (events.contains(where: \.isDisconnected) || !isRunning)
    }
}

/// A reader with a capturing logger, its event log and its running task.
struct RunningReader {
    let reader: GPSReader
    let log: EventLog
    let logs: CapturingLogHandler.Store
    let task: Task<Void, Never>

    init(_ configuration: GPSReaderConfiguration) {
        let logs = CapturingLogHandler.Store()
        let logger = Logger(label: "test.gps") { _ in CapturingLogHandler(store: logs) }
        let reader = GPSReader(configuration: configuration, logger: logger)
        self.reader = reader
        self.logs = logs
        log = EventLog(reader)
        task = Task { await reader.run() }
    }

    /// Shuts down and waits for run() to return; returns how long that took.
    @discardableResult
    func stop() async -> Duration {
        let start = ContinuousClock.now
        reader.shutdown()
        await task.value
        return ContinuousClock.now - start
    }

    /// Shuts down, waits for run() to return and for the log to have every event the reader sent (the fix it still
    /// held is flushed at the end): after this, the log is final, so "nothing else followed" can be asserted
    /// without waiting for time to pass.
    func stopAndDrain() async {
        await stop()
        #expect(await log.wait { _ in log.isFinished }, "the reader's event stream did not finish")
    }

    /// The reader's failed connection attempts so far, from its log ("Cannot connect…" with `gps.retry_in_ms`).
    var failedAttempts: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] {
        logs.entries.withLock { $0.filter { $0.message.hasPrefix("Cannot connect") } }
    }
}
