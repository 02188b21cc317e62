import Foundation
import DabbaCore
import HubModel
import PostgresNIO

extension PostgresHubStore: PositionRepository {
    /// One READ COMMITTED transaction for the whole batch, as SQLite's: every row of it, the conflicts it records and
    /// the agents' latest positions commit together, before the ack. No row lock is needed for the rows:
    /// - One `INSERT … SELECT … ON CONFLICT (agent, seq) DO NOTHING RETURNING` writes the batch (sent as one JSON
    ///   array; a statement per row, one round trip per fix, committed 3,332 fixes/s in the cluster benchmark
    ///   against 15,783 now — BENCHMARKS.md): it waits for a
    ///   concurrent insert of the same seq (another hub ingesting a redelivery) and then inserts nothing, so each seq
    ///   is stored once; the stored row is committed by then, and the next statement (a new snapshot) reads it for
    ///   the conflict check, done only for the rows not inserted.
    /// - The latest positions move with one conditional `UPDATE` whose condition PostgreSQL re-checks on the newest
    ///   row version after waiting for the row lock, so two hubs' batches never move one backwards; the agents' rows
    ///   are locked first, in id order (`SELECT … ORDER BY id FOR NO KEY UPDATE`), as the joined `UPDATE` would not.
    /// Rows are written in `(agent, seq)` order and agents locked in id order, whatever the batch's order, so two
    /// hubs committing overlapping batches wait for each other instead of deadlocking; a deadlock that still happens
    /// is retried (the batch is idempotent). The receipt lists seqs and conflicts in the batch's order.
    package func store(positions: [StoredPosition], events: [DeviceEvent]) async throws(StoreError) -> StoreReceipt {
        let now = wallClockMilliseconds()
        let order = Self.writeOrder(positions.map { ($0.agent, $0.seq) })
        let rows = try Self.json(order.map { positions[$0] })
        return try await transaction { connection in
            var conflicts: [Int: SeqConflict.Key] = [:]
            var newest: [String: (time: Int64, seq: Int64)] = [:]
            // (agent, seq) of each row the insert wrote; a seq twice in the batch was written by its first copy.
            var written = Set<PositionKey>()
            if !order.isEmpty {
                for row in try await connection.rows(
                    """
                    INSERT INTO positions(agent, seq, time, lat, lon, alt, speed, track, hacc, mode)
                    SELECT agent, seq, time, lat, lon, alt, speed, track, hacc, mode
                    FROM ROWS FROM (json_to_recordset(\(rows)::json) AS (
                        agent text, seq bigint, time bigint, lat double precision, lon double precision,
                        alt double precision, speed double precision, track double precision, hacc double precision,
                        mode integer)) WITH ORDINALITY AS p(agent, seq, time, lat, lon, alt, speed, track, hacc, mode, n)
                    ORDER BY n
                    ON CONFLICT(agent, seq) DO NOTHING RETURNING agent, seq
                    """, logger)
                {
                    let (agent, seq) = try row.decode((String, Int64).self)
                    written.insert(PositionKey(agent: agent, seq: seq))
                }
            }
            for i in order {
                let p = positions[i]
                let inserted = written.remove(PositionKey(agent: p.agent, seq: p.seq)) != nil
                // Only a seq already stored is read back and compared: new rows cost no extra read.
                if !inserted, let conflict = try await positionConflict(p, at: now, on: connection) {
                    if conflict.recorded { conflicts[i] = conflict.key }
                    continue  // the stored fix stays the position, and the latest one
                }
                if let n = newest[p.agent], (n.time, n.seq) >= (p.time, p.seq) { continue }
                newest[p.agent] = (p.time, p.seq)
            }
            // The latest position moves only forward in fix time: a late backlog fix never regresses it.
            if !newest.isEmpty {
                let latest = newest.sorted { $0.key < $1.key }
                let (agents, seqs, times) = (latest.map(\.key), latest.map(\.value.seq), latest.map(\.value.time))
                // The lock the UPDATE takes (NO KEY UPDATE: it does not wait for the key-share locks other hubs'
                // position inserts hold on their agents' rows through the foreign key, where FOR UPDATE would
                // deadlock with them). Rows read to the end: an error while locking comes after the first rows.
                _ = try await connection.rows(
                    "SELECT 1 FROM agents WHERE id = ANY(\(agents)) ORDER BY id FOR NO KEY UPDATE", logger)
                try await connection.query(
                    """
                    UPDATE agents AS a SET last_seq = v.seq, last_time = v.time
                    FROM unnest(\(agents)::text[], \(seqs)::bigint[], \(times)::bigint[]) AS v(id, seq, time)
                    WHERE a.id = v.id AND (a.last_time IS NULL OR (a.last_time, a.last_seq) < (v.time, v.seq))
                    """, logger: logger)
            }
            var eventConflicts: [Int: SeqConflict.Key] = [:]
            for i in Self.writeOrder(events.map { ($0.agent, $0.seq) }) {
                let e = events[i]
                let payload = Bytea.bind(e.payload)
                let inserted =
                    try await connection.rows(
                        """
                        INSERT INTO events(agent, seq, time, order_id, type, payload)
                        VALUES(\(e.agent), \(e.seq), \(e.time), \(e.order), \(e.type), \(payload))
                        ON CONFLICT(agent, seq) DO NOTHING RETURNING 1
                        """, logger
                    ).count == 1
                if !inserted, let conflict = try await eventConflict(e, at: now, on: connection), conflict.recorded {
                    eventConflicts[i] = conflict.key
                }
            }
            var receipt = StoreReceipt()
            for p in positions { receipt.committed[p.agent, default: []].append(p.seq) }
            for e in events { receipt.committed[e.agent, default: []].append(e.seq) }
            receipt.conflicts =
                positions.indices.compactMap { conflicts[$0] } + events.indices.compactMap { eventConflicts[$0] }
            return receipt
        }
    }

    /// A position's key.
    struct PositionKey: Hashable {
        let agent: String
        let seq: Int64
    }

    /// `positions` as the JSON array `json_to_recordset` reads (absent optional fields are NULL).
    static func json(_ positions: [StoredPosition]) throws(StoreError) -> String {
        do {
            return String(decoding: try JSONEncoder().encode(positions), as: UTF8.self)
        } catch {
            throw StoreError(.other, "positions could not be encoded for PostgreSQL: \(error)")
        }
    }

    /// The indices of `keys` in `(agent, seq)` order (then batch order, for a seq twice in one batch): the order
    /// every hub writes rows in, so that concurrent commits take the rows' locks in one order.
    static func writeOrder(_ keys: [(agent: String, seq: Int64)]) -> [Int] {
        keys.indices.sorted { (keys[$0].agent, keys[$0].seq, $0) < (keys[$1].agent, keys[$1].seq, $1) }
    }

    /// One `SELECT` on `positions_by_time` (one snapshot).
    package func positions(
        agent: String, since: Int64?, until: Int64?, after: (time: Int64, seq: Int64)?, limit: Int
    ) async throws(StoreError) -> [StoredPosition] {
        let (since, until) = (since ?? Int64.min, until ?? Int64.max)
        let (afterTime, afterSeq) = (after?.time ?? Int64.min, after?.seq ?? Int64.min)
        return try await run { connection in
            try await connection.rows(
                """
                SELECT seq, time, lat, lon, alt, speed, track, hacc, mode FROM positions
                WHERE agent = \(agent) AND time >= \(since) AND time < \(until)
                  AND (time > \(afterTime) OR (time = \(afterTime) AND seq > \(afterSeq)))
                ORDER BY time, seq LIMIT \(Int64(limit))
                """, logger
            ).map { try Self.positionRow($0, agent: agent) }
        }
    }

    /// One `DELETE` (READ COMMITTED): the rows it picks are those of its snapshot, where an agent's latest position
    /// and `last_seq` always agree (they commit together), so a fix becoming the latest concurrently is either not
    /// yet visible or visible as the latest — never deleted as an old one.
    package func prunePositions(before time: Int64, limit: Int) async throws(StoreError) -> Int {
        try await run { connection in
            let deleted = try await connection.scalar(
                Int64.self,
                """
                WITH gone AS (
                    DELETE FROM positions WHERE (agent, seq) IN (
                        SELECT p.agent, p.seq FROM agents a JOIN positions p ON p.agent = a.id
                        WHERE p.time < \(time) AND p.seq <> coalesce(a.last_seq, -1) LIMIT \(Int64(limit)))
                    RETURNING 1)
                SELECT count(*) FROM gone
                """, logger)
            return Int(deleted ?? 0)
        }
    }

    /// One `SELECT count(*)`.
    package func positionCount(agent: String) async throws(StoreError) -> Int {
        try await run { connection in
            Int(
                try await connection.scalar(
                    Int64.self, "SELECT count(*) FROM positions WHERE agent = \(agent)", logger) ?? 0)
        }
    }

    /// Columns `seq, time, lat, lon, alt, speed, track, hacc, mode` (in that order) as a position of `agent`.
    static func positionRow(_ row: PostgresRow, agent: String) throws -> StoredPosition {
        let (seq, time, lat, lon, alt, speed, track, hacc, mode) = try row.decode(
            (Int64, Int64, Double, Double, Double?, Double?, Double?, Double?, Int?).self)
        return StoredPosition(
            agent: agent, seq: seq, time: time, lat: lat, lon: lon, alt: alt, speed: speed, track: track, hacc: hacc,
            mode: mode)
    }
}
