import DabbaCore
import DabbaSQLite
import HubModel

extension SQLiteHubStore {
    package func store(positions: [StoredPosition], events: [DeviceEvent]) throws(StoreError) -> StoreReceipt {
        var receipt = StoreReceipt()
        let now = wallClockMilliseconds()
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                let insert = try db.prepare(
                    """
                    INSERT INTO positions(agent, seq, time, lat, lon, alt, speed, track, hacc, mode)
                    VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(agent, seq) DO NOTHING
                    """)
                var newest: [String: StoredPosition] = [:]
                for p in positions {
                    try insert.run([
                        .text(p.agent), .integer(p.seq), .integer(p.time), .real(p.lat), .real(p.lon),
                        p.alt.map { .real($0) } ?? .null, p.speed.map { .real($0) } ?? .null,
                        p.track.map { .real($0) } ?? .null, p.hacc.map { .real($0) } ?? .null,
                        p.mode.map { .integer(Int64($0)) } ?? .null,
                    ])
                    receipt.committed[p.agent, default: []].append(p.seq)
                    // Only a seq already stored is read back and compared: new rows cost no extra read.
                    if db.changes == 0, let conflict = try positionConflict(p, at: now) {
                        if conflict.recorded { receipt.conflicts.append(conflict.key) }
                        continue  // the stored fix stays the position, and the latest one
                    }
                    if let n = newest[p.agent], (n.time, n.seq) >= (p.time, p.seq) { continue }
                    newest[p.agent] = p
                }
                // The latest position moves only forward in fix time: a late backlog fix never regresses it. The
                // agent's row keeps it whole (read without a look-up in `positions`).
                let latest = try db.prepare(
                    """
                    UPDATE agents SET last_seq = ?1, last_time = ?2, last_lat = ?3, last_lon = ?4, last_alt = ?5,
                        last_speed = ?6, last_track = ?7, last_hacc = ?8, last_mode = ?9
                    WHERE id = ?10 AND (last_time IS NULL OR last_time < ?2 OR (last_time = ?2 AND last_seq < ?1))
                    """)
                for (agent, n) in newest {
                    try latest.run([
                        .integer(n.seq), .integer(n.time), .real(n.lat), .real(n.lon), n.alt.map { .real($0) } ?? .null,
                        n.speed.map { .real($0) } ?? .null, n.track.map { .real($0) } ?? .null,
                        n.hacc.map { .real($0) } ?? .null, n.mode.map { .integer(Int64($0)) } ?? .null, .text(agent),
                    ])
                }
                let event = try db.prepare(
                    """
                    INSERT INTO events(agent, seq, time, order_id, type, payload) VALUES(?, ?, ?, ?, ?, ?)
                    ON CONFLICT(agent, seq) DO NOTHING
                    """)
                for e in events {
                    try event.run([
                        .text(e.agent), .integer(e.seq), .integer(e.time), .text(e.order), .text(e.type),
                        .blob(e.payload),
                    ])
                    receipt.committed[e.agent, default: []].append(e.seq)
                    if db.changes == 0, let conflict = try eventConflict(e, at: now), conflict.recorded {
                        receipt.conflicts.append(conflict.key)
                    }
                }
            }
        }
        return receipt
    }

    package func positions(agent: String, since: Int64?, until: Int64?, after: (time: Int64, seq: Int64)?, limit: Int)
        throws(StoreError) -> [StoredPosition]
    {
        try run { () throws(SQLiteError) in
            let s = try db.prepare(
                """
                SELECT seq, time, lat, lon, alt, speed, track, hacc, mode FROM positions
                WHERE agent = ?1 AND time >= ?2 AND time < ?3 AND (time > ?4 OR (time = ?4 AND seq > ?5))
                ORDER BY time, seq LIMIT ?6
                """)
            try s.bind([
                .text(agent), .integer(since ?? Int64.min), .integer(until ?? Int64.max),
                .integer(after?.time ?? Int64.min), .integer(after?.seq ?? Int64.min), .integer(Int64(limit)),
            ])
            var result: [StoredPosition] = []
            while try s.step() { result.append(Self.positionRow(s, agent: agent)) }
            return result
        }
    }

    package func prunePositions(before time: Int64, limit: Int) throws(StoreError) -> Int {
        try run { () throws(SQLiteError) in
            // The latest position of each agent is kept whatever its age. Agent by agent (CROSS JOIN keeps agents
            // the outer loop), each a range of positions_by_time(agent, time, seq): no index on time alone needed.
            try db.prepare(
                """
                DELETE FROM positions WHERE rowid IN (
                    SELECT p.rowid FROM agents a CROSS JOIN positions p
                    WHERE p.agent = a.id AND p.time < ? AND p.seq != coalesce(a.last_seq, -1) LIMIT ?)
                """
            ).run([.integer(time), .integer(Int64(limit))])
            return db.changes
        }
    }

    package func positionCount(agent: String) throws(StoreError) -> Int {
        try run { () throws(SQLiteError) in
            Int(try db.scalarInt("SELECT count(*) FROM positions WHERE agent = ?", [.text(agent)]) ?? 0)
        }
    }

    /// Columns `seq, time, lat, lon, alt, speed, track, hacc, mode` (in that order) as a position of `agent`.
    static func positionRow(_ s: SQLiteStatement, agent: String) -> StoredPosition {
        StoredPosition(
            agent: agent, seq: s.int64(0), time: s.int64(1), lat: s.double(2), lon: s.double(3),
            alt: s.isNull(4) ? nil : s.double(4), speed: s.isNull(5) ? nil : s.double(5),
            track: s.isNull(6) ? nil : s.double(6), hacc: s.isNull(7) ? nil : s.double(7),
            mode: s.isNull(8) ? nil : Int(s.int64(8)))
    }
}
