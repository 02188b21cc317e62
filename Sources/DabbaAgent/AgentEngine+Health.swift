import DabbaCore
import DabbaMQTT

/// Publishes the broker refuses (an ACL denial, a size limit): the lanes back off instead of resending at once.
struct RefusalState {
    /// Exponential, capped: 1 s, 2 s, 4 s … 60 s; reset by the next publish the broker accepts.
    var backoff = Backoff(initial: .seconds(1), maximum: .seconds(60))
    /// No publish on either lane before this monotonic time.
    var pausedUntil: Int64?
    /// After a refusal the backlog sends one message at a time until the broker accepts one.
    var probing = false
    /// Refusals since the last log line (logged at most once a minute).
    var sinceLog = 0
    var lastLog: Int64?
}

extension AgentEngine {
    /// The part of the WAL past ``Outbox/walSizeLimit`` after which the engine checkpoints itself: SQLite's own
    /// checkpoint keeps the WAL near the limit, so more means it is failing (a read left open, say).
    static let walSlack: Int64 = 1 << 20

    // MARK: Refused publishes

    /// True while the lanes wait after a refusal.
    func publishingPaused(now: Int64 = monotonicMilliseconds()) -> Bool {
        guard let until = refusal.pausedUntil else { return false }
        if now >= until {
            refusal.pausedUntil = nil
            return false
        }
        return true
    }

    /// The broker refused a publish: counted, logged at most once a minute, and both lanes pause for the next
    /// backoff step; the rows stay in the outbox.
    func noteRefusal(_ reason: String, rows: Int) {
        let now = monotonicMilliseconds()
        counters.publishRefused += 1
        refusal.sinceLog += 1
        refusal.probing = true
        // Messages already in flight are refused in a burst: one backoff step for the burst, not one each.
        if publishingPaused(now: now) { return }
        let delay = refusal.backoff.next().dabbaMilliseconds
        refusal.pausedUntil = now + delay
        if refusal.lastLog.map({ now - $0 >= 60_000 }) ?? true {
            logger.warning(
                "The broker refuses publishes; backing off (rows stay in the outbox)",
                metadata: [
                    "mqtt.reason": "\(reason)", "mqtt.refused": "\(refusal.sinceLog)", "backlog.rows": "\(rows)",
                    "mqtt.retry_in_ms": "\(delay)",
                ])
            refusal.lastLog = now
            refusal.sinceLog = 0
        }
    }

    /// The broker accepted a publish: the next refusal starts the backoff again from its first step, and a batch
    /// size halved by refusals doubles back towards `backlog-batch`.
    func noteAccepted() {
        if batchCap < configuration.backlogBatch { batchCap = min(configuration.backlogBatch, batchCap * 2) }
        refusal.backoff.reset()
        refusal.pausedUntil = nil
        refusal.probing = false
    }

    /// Backlog messages allowed in flight: the window, or one while probing after a refusal.
    var backlogWindowNow: Int { refusal.probing ? 1 : configuration.backlogWindow }

    // MARK: Storage health

    /// Called by `tick()`: when the WAL has grown past its bound, SQLite's automatic checkpoint is failing, so
    /// checkpoint now; a checkpoint that cannot finish or fails is counted (`status`) and logged once a minute.
    func checkWAL() {
        let wal = outbox.walBytes
        guard wal > Int64(Outbox.walSizeLimit) + Self.walSlack else { return }
        var problem: String?
        do {
            if try !outbox.checkpoint() { problem = "busy: a read or write was still in progress" }
        } catch {
            problem = "\(error)"
        }
        guard let problem else { return }
        counters.checkpointFailures += 1
        let now = monotonicMilliseconds()
        if now - lastCheckpointLog >= 60_000 {
            lastCheckpointLog = now
            logger.error(
                "Outbox WAL checkpoint failed; the WAL keeps growing",
                metadata: [
                    "outbox.wal_bytes": "\(wal)", "outbox.error": "\(problem)",
                    "outbox.checkpoint_failures": "\(counters.checkpointFailures)",
                ])
        }
    }

    /// Acks may only name seqs this outbox has handed out: a range beyond `lastSeq` (an ack meant for an earlier
    /// outbox, or a confused hub) is cut off there, counted and logged; the rest applies.
    func issuedOnly(_ ranges: [ClosedRange<Int64>]) -> [ClosedRange<Int64>] {
        let last = outbox.lastSeq
        guard ranges.contains(where: { $0.upperBound > last }) else { return ranges }
        counters.ackUnissued += 1
        logger.warning(
            "Ack names seqs this agent never issued; ignoring them",
            metadata: ["ack.ranges": "\(ranges)", "outbox.last_seq": "\(last)"])
        return ranges.compactMap { $0.lowerBound > last ? nil : $0.lowerBound...min($0.upperBound, last) }
    }
}

extension AgentEngine {
    /// Runs `body` with the outbox on the engine's thread (tests inspect the file, or make it fail, through it).
    func withOutbox<T: Sendable, E: Error>(_ body: @Sendable (Outbox) throws(E) -> T) throws(E) -> T {
        try body(outbox)
    }
}
