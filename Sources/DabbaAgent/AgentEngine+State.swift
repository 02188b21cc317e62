import DabbaCore
import DabbaMQTT
import DabbaProtocol

/// What `dabba-agent status` shows.
public struct AgentStatus: Codable, Sendable, Equatable {
    public var agent: String
    /// "connected" or "disconnected".
    public var broker: String
    /// "fix", "no_fix" or "gpsd_down".
    public var gps: String
    public var mode: Int?
    public var lastFix: Fix?
    /// Seconds since the last fix arrived.
    public var lastFixAge: Double?
    public var outboxDepth: Int
    public var oldestUnsentAge: Double?
    public var lastSeq: Int64
    public var thinned: Int64
    public var diskFull: Bool
    public var unacked: Int
    /// The last outbox failure other than a full disk (an I/O error, a read-only file system), nil once a write
    /// succeeds again; `dabba-agent status` exits 1 while it is set.
    public var storageError: String?
    /// Bytes in the outbox's WAL file (bounded by about `Outbox.walSizeLimit` plus one transaction).
    public var walBytes: Int64
    public var counters: AgentCounters

    /// What `dabba-agent status` exits 1 on: offline, no GPS fix, a full disk or failing storage.
    public var isDegraded: Bool { broker != "connected" || gps != "fix" || diskFull || storageError != nil }
}

extension AgentEngine {
    /// "fix", "no_fix" or "gpsd_down".
    var gpsState: String { !gpsConnected ? "gpsd_down" : (gpsHasFix ? "fix" : "no_fix") }

    /// The engine's counters plus the ones the outbox keeps.
    var countersWithOutbox: AgentCounters {
        var all = counters
        all.seqReservationFailures = outbox.seqReservationFailures
        return all
    }

    /// Current status for the control socket (the acks received so far applied first: depth and unacked are exact).
    public func status() -> AgentStatus {
        applyAcks()
        let now = monotonicMilliseconds()
        let oldest = try? outbox.oldestTime()
        return AgentStatus(
            agent: configuration.agentID,
            broker: connected ? "connected" : "disconnected",
            gps: gpsState,
            mode: gpsHasFix ? lastFix?.mode : nil,
            lastFix: lastFix.map { fix in
                Fix(
                    agent: configuration.agentID, seq: lastFixSeq ?? 0,
                    time: Timestamp.format(milliseconds: fix.timeMilliseconds),
                    lat: fix.latitude, lon: fix.longitude, alt: fix.altitude, speed: fix.speed, track: fix.track,
                    hacc: fix.horizontalAccuracy, mode: fix.mode)
            },
            lastFixAge: lastFixAt.map { Double(now - $0) / 1000 },
            outboxDepth: outbox.depth,
            oldestUnsentAge: oldest.flatMap { $0 }.map { max(0, Double(wallClockMilliseconds() - $0) / 1000) },
            lastSeq: outbox.lastSeq,
            thinned: outbox.thinnedTotal,
            diskFull: diskFullSince != nil,
            unacked: tracked.count,
            storageError: storageError,
            walBytes: outbox.walBytes,
            counters: countersWithOutbox)
    }

    /// The retained `…/state` payload.
    func statePayload(online: Bool) -> [UInt8] {
        let s = status()
        return AgentState(
            agent: s.agent, online: online, time: Timestamp.format(milliseconds: wallClockMilliseconds()),
            gps: s.gps, mode: s.mode, outboxDepth: s.outboxDepth, oldestUnsentAge: s.oldestUnsentAge,
            lastSeq: s.lastSeq, thinned: s.thinned
        ).jsonBytes()
    }

    /// Publishes the retained state (online) now.
    func publishState() {
        guard connected else { return }
        lastStatePublish = monotonicMilliseconds()
        _ = try? mqtt.publish(
            topic: Topics.state(agent: configuration.agentID), payload: statePayload(online: true), qos: .atLeastOnce,
            retain: true)
    }

    /// Publishes `online: false` before a clean shutdown (a clean DISCONNECT does not fire the Will) and waits
    /// briefly for in-flight messages.
    public func goOffline() {
        guard connected else { return }
        _ = try? mqtt.publish(
            topic: Topics.state(agent: configuration.agentID), payload: statePayload(online: false),
            qos: .atLeastOnce, retain: true)
    }

    /// The periodic work of the main loop: timeouts, backlog, state; returns a one-line summary for systemd.
    public func tick() -> String {
        applyAcks()
        resendTimedOut()
        checkWAL()
        retryTaskSync()
        pump()
        let now = monotonicMilliseconds()
        if now - lastStatePublish >= Int64(configuration.stateInterval.components.seconds * 1000) { publishState() }
        var line = "\(connected ? "online" : "offline"), gps \(gpsState.replacingUnderscores)"
        if gpsHasFix, let mode = lastFix?.mode { line += " (\(mode)D)" }
        line += ", outbox \(outbox.depth) rows"
        if diskFullSince != nil { line += ", DISK FULL" }
        if storageError != nil { line += ", STORAGE FAILING" }
        return line
    }
}

extension String {
    fileprivate var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}

extension AgentEngine {
    /// Checkpoints the outbox's WAL so the file is self-contained after a clean stop; a checkpoint that cannot
    /// finish is logged (the WAL is then replayed at the next start: nothing is lost, but it should not happen).
    public func close() {
        applyAcks()
        do {
            if try !outbox.closeCleanly() {
                logger.warning("Outbox WAL checkpoint could not finish: a read or write was still in progress")
            }
        } catch {
            logger.error("Outbox WAL checkpoint failed", metadata: ["outbox.error": "\(error)"])
        }
    }
}
