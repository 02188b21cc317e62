import DabbaProtocol
import DabbaSQLite
import HubModel

/// Seqs that arrive again with a different payload (`seq_conflicts`, see ``SeqConflict``). Ingest calls the
/// `…Conflict` checks inside its commit transaction, only for rows whose insert found the seq already stored, so
/// the conflict is committed with the batch and before its ack.
extension SQLiteHubStore {
    /// Compares a fix whose `(agent, seq)` is already stored with the stored one. Nil when they are the same (a
    /// redelivery); otherwise the conflict, recorded unless this very fix was recorded before.
    func positionConflict(_ p: StoredPosition, at now: Int64) throws(SQLiteError)
        -> (key: SeqConflict.Key, recorded: Bool)?
    {
        let s = try db.prepare(
            "SELECT seq, time, lat, lon, alt, speed, track, hacc, mode FROM positions WHERE agent = ? AND seq = ?")
        try s.bind([.text(p.agent), .integer(p.seq)])
        guard try s.step() else { throw Self.vanished("positions", p.agent, p.seq) }
        let stored = Self.positionRow(s, agent: p.agent)
        s.reset()
        if stored == p { return nil }
        let key = SeqConflict.Key(agent: p.agent, seq: p.seq, kind: .fix)
        let recorded = try record(
            key, stored: SeqConflict.encode(stored), arriving: SeqConflict.encode(p), at: now)
        return (key, recorded)
    }

    /// Compares a device event whose `(agent, seq)` is already stored with the stored one. Nil when it is the same
    /// event (a redelivery); otherwise the conflict, recorded unless this very payload was recorded before.
    func eventConflict(_ e: DeviceEvent, at now: Int64) throws(SQLiteError) -> (key: SeqConflict.Key, recorded: Bool)? {
        let s = try db.prepare("SELECT time, order_id, type, payload FROM events WHERE agent = ? AND seq = ?")
        try s.bind([.text(e.agent), .integer(e.seq)])
        guard try s.step() else { throw Self.vanished("events", e.agent, e.seq) }
        let stored = (time: s.int64(0), order: s.text(1) ?? "", type: s.text(2) ?? "", payload: s.bytes(3))
        s.reset()
        if SeqConflict.sameEvent(stored: stored, arriving: e) { return nil }
        let key = SeqConflict.Key(agent: e.agent, seq: e.seq, kind: .event)
        return (key, try record(key, stored: stored.payload, arriving: e.payload, at: now))
    }

    /// Inserts one conflict; false when the same arriving payload was already recorded under that seq.
    private func record(_ key: SeqConflict.Key, stored: [UInt8], arriving: [UInt8], at now: Int64)
        throws(SQLiteError) -> Bool
    {
        try db.prepare(
            """
            INSERT INTO seq_conflicts(agent, seq, kind, stored, arriving, received) VALUES(?, ?, ?, ?, ?, ?)
            ON CONFLICT(agent, kind, seq, arriving) DO NOTHING
            """
        ).run([
            .text(key.agent), .integer(key.seq), .text(key.kind.rawValue), .blob(stored), .blob(arriving),
            .integer(now),
        ])
        return db.changes == 1
    }

    /// The insert said the row exists and the read in the same transaction did not find it: fail the commit (the
    /// batch is not acked and comes again) rather than ack a row kept nowhere.
    private static func vanished(_ table: String, _ agent: String, _ seq: Int64) -> SQLiteError {
        SQLiteError(
            extendedCode: SQLiteError.Code.error.rawValue,
            message: "\(table): (\(agent), \(seq)) is stored but could not be read back")
    }

    package func seqConflicts(agent: String, after: Int64?, limit: Int) throws(StoreError) -> [SeqConflict] {
        let rows = try run { () throws(SQLiteError) in
            let s = try db.prepare(
                """
                SELECT id, seq, kind, stored, arriving, received FROM seq_conflicts
                WHERE agent = ? AND id > ? ORDER BY id LIMIT ?
                """)
            try s.bind([.text(agent), .integer(after ?? Int64.min), .integer(Int64(limit))])
            var rows: [(id: Int64, seq: Int64, kind: String, stored: [UInt8], arriving: [UInt8], received: Int64)] = []
            while try s.step() {
                rows.append((s.int64(0), s.int64(1), s.text(2) ?? "", s.bytes(3), s.bytes(4), s.int64(5)))
            }
            return rows
        }
        var result: [SeqConflict] = []
        for row in rows {
            result.append(
                try SeqConflict(
                    storedRow: row.id, agent: agent, seq: row.seq, kind: row.kind, stored: row.stored,
                    arriving: row.arriving, receivedAt: row.received))
        }
        return result
    }
}
