import DabbaSQLite
import HubModel

/// Named leases (``LeaseRepository``): one row per lease in `leases`.
extension SQLiteHubStore {
    /// One upsert statement: inserted when absent; otherwise taken only when it is the holder's own or expired.
    /// SQLite serialises writers (hubs on one file included), so two hubs never both see their write succeed.
    package func acquireLease(_ name: String, holder: String, now: Int64, until: Int64) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) -> Bool in
            try db.prepare(
                """
                INSERT INTO leases(name, holder, expires_at) VALUES (?1, ?2, ?4)
                ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                WHERE leases.holder = excluded.holder OR leases.expires_at <= ?3
                """
            ).run([.text(name), .text(holder), .integer(now), .integer(until)])
            return db.changes == 1
        }
    }

    package func releaseLease(_ name: String, holder: String) throws(StoreError) {
        try run { () throws(SQLiteError) in
            try db.prepare("DELETE FROM leases WHERE name = ? AND holder = ?").run([.text(name), .text(holder)])
        }
    }

    package func leaseHolder(_ name: String) throws(StoreError) -> (holder: String, until: Int64)? {
        try run { () throws(SQLiteError) -> (holder: String, until: Int64)? in
            let s = try db.prepare("SELECT holder, expires_at FROM leases WHERE name = ?")
            defer { s.reset() }
            try s.bind([.text(name)])
            guard try s.step() else { return nil }
            return (s.text(0) ?? "", s.int64(1))
        }
    }
}
