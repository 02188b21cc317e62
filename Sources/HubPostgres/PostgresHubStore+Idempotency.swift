import DabbaCore
import HubModel
import PostgresNIO

extension PostgresHubStore: IdempotencyRepository {
    /// The claim is one conditional write, as SQLite's: `INSERT … ON CONFLICT DO UPDATE … WHERE` inserts a new key,
    /// takes over an expired one, and leaves a live one alone. A concurrent claim of the same key (another hub)
    /// waits for the first to commit and then sees its row (READ COMMITTED re-checks the conflict on the newest
    /// version), so exactly one claim wins; a losing claim then reads the stored row in a new statement.
    package func claimIdempotencyKey(scope: String, key: String, requestHash: String, now: Int64, ttl: Int64)
        async throws(StoreError) -> IdempotencyClaim
    {
        // Checked: `ttl` is configuration; a cutoff below the representable range means nothing has expired.
        let expired = Checked.subtract(now, ttl) ?? Int64.min
        return try await transaction { connection -> IdempotencyClaim in
            let claimed =
                try await connection.rows(
                    """
                    INSERT INTO idempotency_keys(scope, key, request_hash, state, created)
                    VALUES(\(scope), \(key), \(requestHash), 'in_progress', \(now))
                    ON CONFLICT(scope, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, state = 'in_progress',
                        status = NULL, response = NULL, created = EXCLUDED.created
                    WHERE idempotency_keys.created <= \(expired)
                    RETURNING 1
                    """, logger
                ).count == 1
            if claimed { return .claimed }
            guard
                let row = try await connection.rows(
                    """
                    SELECT request_hash, state, status, response FROM idempotency_keys
                    WHERE scope = \(scope) AND key = \(key)
                    """, logger
                ).first
            else { return .inProgress }
            let (hash, state, status, response) = try row.decode((String, String, Int64?, ByteBuffer?).self)
            if hash != requestHash { return .mismatch }
            guard state == "done", let status else { return .inProgress }
            return .replay(status: Int(status), body: response.map(Bytea.read) ?? [])
        }
    }

    /// One conditional `UPDATE`: only a claim still in progress is finished.
    package func finishIdempotencyKey(scope: String, key: String, status: Int, body: [UInt8]) async throws(StoreError) {
        try await run { connection in
            try await connection.query(
                """
                UPDATE idempotency_keys SET state = 'done', status = \(Int64(status)), response = \(Bytea.bind(body))
                WHERE scope = \(scope) AND key = \(key) AND state = 'in_progress'
                """, logger: logger)
        }
    }

    /// One conditional `DELETE`: a finished key stays.
    package func releaseIdempotencyKey(scope: String, key: String) async throws(StoreError) {
        try await run { connection in
            try await connection.query(
                "DELETE FROM idempotency_keys WHERE scope = \(scope) AND key = \(key) AND state = 'in_progress'",
                logger: logger)
        }
    }
}
