import HubModel
import PostgresNIO

/// Named leases (``LeaseRepository``): one row per lease in `leases`.
extension PostgresHubStore {
    /// One `INSERT … ON CONFLICT DO UPDATE … WHERE` (READ COMMITTED, autocommit): a concurrent acquire waits for
    /// the row lock and re-checks the condition on the committed row, so exactly one of two hubs racing for an
    /// expired lease gets a row back.
    package func acquireLease(_ name: String, holder: String, now: Int64, until: Int64) async throws(StoreError)
        -> Bool
    {
        try await run { connection in
            try await connection.rows(
                """
                INSERT INTO leases(name, holder, expires_at) VALUES (\(name), \(holder), \(until))
                ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= \(now)
                RETURNING 1
                """, logger
            ).count == 1
        }
    }

    package func releaseLease(_ name: String, holder: String) async throws(StoreError) {
        _ = try await run { connection in
            try await connection.rows("DELETE FROM leases WHERE name = \(name) AND holder = \(holder)", logger).count
        }
    }

    package func leaseHolder(_ name: String) async throws(StoreError) -> (holder: String, until: Int64)? {
        let row = try await run { connection in
            try await connection.rows("SELECT holder, expires_at FROM leases WHERE name = \(name)", logger).first
                .map { try $0.decode((String, Int64).self) }
        }
        return row.map { (holder: $0.0, until: $0.1) }
    }
}
