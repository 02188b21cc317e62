import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaSQLite

extension AgentEngine {
    // MARK: MQTT events

    /// Handles the MQTT client's events until its stream ends. The loop stays on the engine's executor (the
    /// iteration is isolated to it), so each event is one hand-off from the network thread to the engine's thread;
    /// a loop elsewhere calling ``handle(_:)-(MQTTEvent)`` hopped to the engine and back for every PUBACK.
    public func consume(_ events: MQTTEventStream) async {
        for await event in events { handle(event) }
    }

    /// Handles one event from the MQTT client.
    public func handle(_ event: MQTTEvent) {
        switch event {
        case .connected(let session):
            self.session = session
            connected = true
            resetSession()
            logger.info("Connected to broker", metadata: ["mqtt.session": "\(session)"])
            publishState()
            requestTaskSync()
            // The live lane first: the newest fix, then the backlog oldest first.
            // Only a fix that is the newest ever recorded is "live"; an older unacked one waits for the backlog.
            if let newest = try? newestFixRow(), newest.time >= outbox.lastFixTime { publishLive(newest) }
            pump()
        case .disconnected(let reason):
            if connected {
                logger.warning("Disconnected from broker", metadata: ["mqtt.reason": "\(reason)"])
            }
            connected = false
            resetSession()
        case .published(let mid):
            guard let entry = inFlight.removeValue(forKey: mid) else { return }
            let now = monotonicMilliseconds()
            tracked.markSent(entry.seqs, inFlightIn: mid, at: now)
            noteAccepted()
            counters.rowsPubacked += Int64(entry.seqs.count)
            if entry.backlog { backlogInFlight -= 1 }
            pump()
        case .publishFailed(let mid, let reason):
            guard let entry = inFlight.removeValue(forKey: mid) else { return }
            counters.publishFailed += 1
            if entry.backlog { backlogInFlight -= 1 }
            untrack(entry.seqs)
            if MQTTClient.isBrokerRefusal(reason) {
                // mosquitto refuses an over-long message (message_size_limit) with a bare reason code, like an ACL
                // denial: a refused batch is halved either way, and grows back as the broker accepts messages.
                if entry.backlog && entry.seqs.count > 1 { batchCap = max(1, min(batchCap, entry.seqs.count / 2)) }
                noteRefusal(reason, rows: entry.seqs.count)
            } else {
                logger.warning("Publish failed; rows stay in the outbox", metadata: ["mqtt.reason": "\(reason)"])
            }
            pump()
        case .message(let message):
            if message.topic == Topics.ack(agent: configuration.agentID) {
                handleAck(message.payload)
            } else if message.topic == Topics.tasks(agent: configuration.agentID) {
                handleTasksTopic(message.payload)
            }
        }
    }

    /// Forgets everything about the previous session: unacked rows are all sent again (acked ones are deleted first).
    func resetSession() {
        applyAcks()
        batchCap = configuration.backlogBatch
        inFlight.removeAll()
        tracked.removeAll()
        backlogInFlight = 0
        cursor = 0
        backlogSkipped = 0
    }

    /// Rows no longer tracked go back to the backlog: move the cursor back so the pump sees them again.
    func untrack(_ seqs: [Int64]) { untrack(AckMessage.ranges(of: seqs)) }

    /// ``untrack(_:)-([Int64])`` for rows given as ascending ranges.
    func untrack(_ ranges: [ClosedRange<Int64>]) {
        for range in ranges { tracked.remove(range) }
        if let first = ranges.first?.lowerBound { cursor = min(cursor, first - 1) }
    }

    func newestFixRow() throws(SQLiteError) -> Outbox.Row? {
        guard outbox.lastSeq > 0 else { return nil }
        return try outbox.newestRow(kind: .fix)
    }

    /// Sends one row at once (fix on `…/fix`, event on `…/events`).
    func publishLive(_ row: Outbox.Row) {
        let topic =
            row.kind == .fix ? Topics.fix(agent: configuration.agentID) : Topics.events(agent: configuration.agentID)
        guard !tracked.contains(row.seq), !publishingPaused() else { return }
        let mid: MQTTMessageID
        do {
            mid = try mqtt.publish(topic: topic, payload: row.payload, qos: .atLeastOnce)
        } catch let error as MQTTError where error.code == .notConnected {
            return  // the row waits in the outbox for the next session
        } catch {
            counters.publishFailed += 1
            noteRefusal("\(error)", rows: 1)
            return
        }
        inFlight[mid] = ([row.seq], false)
        tracked.set(CollectionOfOne(row.seq), .inFlight(mid))
        counters.livePublished += 1
    }

    // MARK: Backlog lane

    /// Sends older rows oldest first within the in-flight window, the unacked bound and the rate limit.
    func pump() {
        guard connected, !publishingPaused() else { return }
        refillTokens()
        while backlogInFlight < backlogWindowNow, tracked.count < configuration.maxUnacked {
            let batch = batchCap
            if configuration.backlogRate > 0, tokens < 1 { return }
            let rows: [Outbox.Row]
            do {
                rows = try outbox.rows(after: cursor, limit: batch + min(backlogSkipped, 4 * batch))
            } catch {
                outboxFailed(error, while: "reading the backlog")
                return
            }
            guard !rows.isEmpty else { return }
            var fixes: [Outbox.Row] = []
            var event: Outbox.Row?
            var last = cursor
            var skipped = 0
            defer { backlogSkipped = skipped }
            for row in rows {
                if tracked.contains(row.seq) {
                    last = row.seq
                    skipped += 1
                    continue
                }
                if row.kind == .event {
                    if fixes.isEmpty {
                        event = row
                        last = row.seq
                    }
                    break
                }
                fixes.append(row)
                last = row.seq
                let budget = configuration.backlogRate > 0 ? min(batch, Int(tokens)) : batch
                if fixes.count >= max(1, budget) { break }
            }
            if let event {
                guard
                    send(rows: [event], topic: Topics.events(agent: configuration.agentID), payload: event.payload)
                        == .sent
                else { return }
            } else if !fixes.isEmpty {
                switch send(
                    rows: fixes, topic: Topics.backlog(agent: configuration.agentID),
                    payload: BacklogMessage.payload(
                        agent: configuration.agentID, fixPayloads: fixes.lazy.map(\.payload)))
                {
                case .sent: break
                case .retrySmaller: continue
                case .stop: return
                }
                counters.backlogFixes += Int64(fixes.count)
                if configuration.backlogRate > 0 { tokens -= Double(fixes.count) }
            }
            cursor = last
        }
    }

    enum SendResult { case sent, retrySmaller, stop }

    /// Publishes one backlog or event message. A refusal other than "not connected" (the broker's packet-size
    /// limit, for instance) is counted and logged, and halves the batch for this session so the lane never stalls.
    private func send(rows: [Outbox.Row], topic: String, payload: [UInt8]) -> SendResult {
        let mid: MQTTMessageID
        do {
            mid = try mqtt.publish(topic: topic, payload: payload, qos: .atLeastOnce)
        } catch let error as MQTTError where error.code == .notConnected {
            return .stop
        } catch {
            counters.publishFailed += 1
            // Halving is bounded (log2 of the batch); one fix the broker still refuses backs both lanes off.
            guard rows.count > 1 else {
                noteRefusal("\(error)", rows: rows.count)
                return .stop
            }
            batchCap = max(1, rows.count / 2)
            logger.notice(
                "Broker refused a backlog message; sending smaller batches",
                metadata: [
                    "mqtt.error": "\(error)", "backlog.rows": "\(rows.count)", "backlog.bytes": "\(payload.count)",
                    "backlog.batch": "\(batchCap)",
                ])
            return .retrySmaller
        }
        let seqs = rows.map(\.seq)
        inFlight[mid] = (seqs, true)
        tracked.set(seqs, .inFlight(mid))
        backlogInFlight += 1
        counters.backlogMessages += 1
        return .sent
    }

    func refillTokens() {
        guard configuration.backlogRate > 0 else { return }
        let now = monotonicMilliseconds()
        let rate = Double(configuration.backlogRate)
        tokens = min(max(rate, Double(configuration.backlogBatch)), tokens + rate * Double(now - lastRefill) / 1000)
        lastRefill = now
    }

    // MARK: Acks

    /// Deletes the rows the hub has committed. A malformed ack is counted and ignored.
    func handleAck(_ payload: [UInt8]) {
        let ranges: [ClosedRange<Int64>]
        do {
            let ack = try AckMessage.parse(payload)
            guard ack.agent == configuration.agentID else {
                throw PayloadError(.agentMismatch, "ack for agent \(ack.agent)")
            }
            ranges = issuedOnly(try ack.ranges())
        } catch {
            counters.ackMalformed += 1
            logger.warning("Ignoring malformed ack", metadata: ["ack.error": "\(error)"])
            return
        }
        pendingAcks += ranges
        pendingAckRows += ranges.reduce(0) { $0 + Int(min($1.upperBound - $1.lowerBound + 1, 1 << 30)) }
        if pendingAckRows >= Self.ackBatchRows || backlogInFlight == 0 { applyAcks() }
        pump()
    }

    /// Deletes the rows of the acks received so far (``pendingAcks``) in one transaction and stops tracking them. A
    /// failure is counted and logged (`outboxFailed`); the rows stay tracked, are sent again after `ack-timeout`
    /// and deleted when the hub acks them again.
    func applyAcks() {
        guard !pendingAcks.isEmpty else { return }
        let ranges = pendingAcks
        pendingAcks.removeAll(keepingCapacity: true)
        pendingAckRows = 0
        do {
            let removed = try outbox.delete(ranges)
            counters.rowsAcked += Int64(removed)
        } catch {
            outboxFailed(error, while: "deleting acked rows")
            return
        }
        for range in ranges { tracked.remove(range) }
        // An array keeps its capacity: once a burst (a backlog drained while acks lagged) is acked, give it back.
        if tracked.isEmpty { tracked.removeAll() }
    }

    /// Rows sent but not acked within `ackTimeout` go back to the backlog.
    func resendTimedOut() {
        let limit = monotonicMilliseconds() - Int64(configuration.ackTimeout.components.seconds * 1000)
        let expired = tracked.sent(before: limit)
        counters.resentAfterTimeout += Int64(expired.reduce(0) { $0 + RowTracker.rows(in: $1) })
        untrack(expired)
    }

    // MARK: Failures

    func outboxFailed(_ error: any Error, while action: String) {
        let now = monotonicMilliseconds()
        if let sqlite = error as? SQLiteError, sqlite.isFull {
            counters.diskFull += 1
            if diskFullSince == nil { diskFullSince = now }
            if now - lastDiskFullLog > 60_000 {
                lastDiskFullLog = now
                logger.error(
                    "Disk full: fixes are sent live but not stored until space returns",
                    metadata: ["outbox.path": "\(outbox.path)", "outbox.action": "\(action)"])
            }
            return
        }
        counters.outboxErrors += 1
        storageError = "\(action): \(error)"
        logger.error("Outbox error", metadata: ["outbox.action": "\(action)", "outbox.error": "\(error)"])
        if let sqlite = error as? SQLiteError, sqlite.isCorruption { reopenOutbox() }
    }

    func diskRecovered() {
        storageError = nil
        guard let since = diskFullSince else { return }
        diskFullSince = nil
        logger.notice(
            "Disk space is back: recording to the outbox again",
            metadata: ["outbox.full_for_ms": "\(monotonicMilliseconds() - since)"])
    }

    /// A file found corrupt while running: reopen, which moves it aside and salvages what it can (on this thread;
    /// the outbox's `salvageProgress` keeps the systemd watchdog fed meanwhile). Seqs never go below the ones this
    /// process handed out. If the salvage fails, the old connection stays in use and the next corruption error (or
    /// the next start) resumes the salvage where it stopped.
    func reopenOutbox() {
        let lastSeq = outbox.lastSeq
        do {
            let fresh = try Outbox(path: outbox.path, options: outbox.options, logger: logger)
            do {
                try fresh.ensureLastSeq(atLeast: lastSeq)
            } catch {
                outboxFailed(error, while: "raising last_seq after a salvage")
            }
            if let recovery = fresh.recovery {
                logger.notice(
                    "Outbox reopened after salvage",
                    metadata: [
                        "outbox.salvaged_rows": "\(recovery.salvagedRows)", "outbox.last_seq": "\(fresh.lastSeq)",
                        "outbox.moved_to": "\(recovery.movedTo)",
                    ])
            }
            outbox = fresh
            resetSession()
        } catch {
            logger.critical("Cannot reopen the outbox", metadata: ["outbox.error": "\(error)"])
        }
    }
}
