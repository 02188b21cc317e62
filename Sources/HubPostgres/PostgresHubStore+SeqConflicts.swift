import DabbaProtocol
import HubModel
import PostgresNIO

/// Seqs that arrive again with a different payload (`seq_conflicts`, see ``SeqConflict``). Ingest calls the
/// `…Conflict` checks inside its commit transaction, only for rows whose insert found the seq already stored, so the
/// conflict is committed with the batch and before its ack.
extension PostgresHubStore {
    /// Compares a fix whose `(agent, seq)` is already stored with the stored one. Nil when they are the same (a
    /// redelivery); otherwise the conflict, recorded unless this very fix was recorded before.
    func positionConflict(_ p: StoredPosition, at now: Int64, on connection: PostgresSession) async throws
        -> (key: SeqConflict.Key, recorded: Bool)?
    {
        guard
            let row = try await connection.rows(
                """
                SELECT seq, time, lat, lon, alt, speed, track, hacc, mode FROM positions
                WHERE agent = \(p.agent) AND seq = \(p.seq)
                """, logger
            ).first
        else { throw Self.vanished("positions", p.agent, p.seq) }
        let stored = try Self.positionRow(row, agent: p.agent)
        if stored == p { return nil }
        let key = SeqConflict.Key(agent: p.agent, seq: p.seq, kind: .fix)
        let recorded = try await record(
            key, stored: SeqConflict.encode(stored), arriving: SeqConflict.encode(p), at: now, on: connection)
        return (key, recorded)
    }

    /// Compares a device event whose `(agent, seq)` is already stored with the stored one. Nil when it is the same
    /// event (a redelivery); otherwise the conflict, recorded unless this very payload was recorded before.
    func eventConflict(_ e: DeviceEvent, at now: Int64, on connection: PostgresSession) async throws
        -> (key: SeqConflict.Key, recorded: Bool)?
    {
        guard
            let row = try await connection.rows(
                "SELECT time, order_id, type, payload FROM events WHERE agent = \(e.agent) AND seq = \(e.seq)", logger
            ).first
        else { throw Self.vanished("events", e.agent, e.seq) }
        let (time, order, type, payload) = try row.decode((Int64, String, String, ByteBuffer).self)
        let stored = (time: time, order: order, type: type, payload: Bytea.read(payload))
        if SeqConflict.sameEvent(stored: stored, arriving: e) { return nil }
        let key = SeqConflict.Key(agent: e.agent, seq: e.seq, kind: .event)
        return (key, try await record(key, stored: stored.payload, arriving: e.payload, at: now, on: connection))
    }

    /// Inserts one conflict; false when the same arriving payload was already recorded under that seq (or a
    /// concurrent commit recorded it: the insert waits for it).
    private func record(
        _ key: SeqConflict.Key, stored: [UInt8], arriving: [UInt8], at now: Int64, on connection: PostgresSession
    ) async throws -> Bool {
        let (stored, arriving) = (Bytea.bind(stored), Bytea.bind(arriving))
        return try await connection.rows(
            """
            INSERT INTO seq_conflicts(agent, seq, kind, stored, arriving, received)
            VALUES(\(key.agent), \(key.seq), \(key.kind.rawValue), \(stored), \(arriving), \(now))
            ON CONFLICT(agent, kind, seq, sha256(arriving)) DO NOTHING RETURNING 1
            """, logger
        ).count == 1
    }

    /// The insert said the row exists and the read in the same transaction did not find it (pruned in between):
    /// fail the commit (the batch is not acked and comes again) rather than ack a row kept nowhere.
    private static func vanished(_ table: String, _ agent: String, _ seq: Int64) -> StoreError {
        StoreError(.other, "\(table): (\(agent), \(seq)) is stored but could not be read back")
    }

    /// One `SELECT`, oldest first. Ids come from a sequence and are taken before commit, so a conflict committed
    /// after a later one can sort before a page already read; conflicts are rare and listed for operators, who
    /// re-read from the start.
    package func seqConflicts(agent: String, after: Int64?, limit: Int) async throws(StoreError) -> [SeqConflict] {
        let after = after ?? Int64.min
        let rows = try await run { connection in
            try await connection.rows(
                """
                SELECT id, seq, kind, stored, arriving, received FROM seq_conflicts
                WHERE agent = \(agent) AND id > \(after) ORDER BY id LIMIT \(Int64(limit))
                """, logger
            ).map { try $0.decode((Int64, Int64, String, ByteBuffer, ByteBuffer, Int64).self) }
        }
        var result: [SeqConflict] = []
        for (id, seq, kind, stored, arriving, received) in rows {
            result.append(
                try SeqConflict(
                    storedRow: id, agent: agent, seq: seq, kind: kind, stored: Bytea.read(stored),
                    arriving: Bytea.read(arriving), receivedAt: received))
        }
        return result
    }
}
