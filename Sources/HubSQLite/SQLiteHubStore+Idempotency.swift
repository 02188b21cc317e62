import DabbaSQLite
import HubModel

extension SQLiteHubStore {
    package func claimIdempotencyKey(scope: String, key: String, requestHash: String, now: Int64, ttl: Int64)
        throws(StoreError) -> IdempotencyClaim
    {
        try run { () throws(SQLiteError) -> IdempotencyClaim in
            try db.transaction { () throws(SQLiteError) -> IdempotencyClaim in
                // The claim is this one conditional write: a new key is inserted, an expired one taken over; a live
                // one is left alone (also when several hubs share the database: the primary key decides).
                try db.prepare(
                    """
                    INSERT INTO idempotency_keys(scope, key, request_hash, state, created) VALUES(?1, ?2, ?3, 'in_progress', ?4)
                    ON CONFLICT(scope, key) DO UPDATE SET request_hash = ?3, state = 'in_progress', status = NULL,
                        response = NULL, created = ?4
                    WHERE idempotency_keys.created <= ?5
                    """
                ).run([.text(scope), .text(key), .text(requestHash), .integer(now), .integer(now - ttl)])
                if db.changes == 1 { return .claimed }
                let s = try db.prepare(
                    "SELECT request_hash, state, status, response FROM idempotency_keys WHERE scope = ? AND key = ?")
                defer { s.reset() }
                try s.bind([.text(scope), .text(key)])
                guard try s.step() else { return .inProgress }
                if s.text(0) != requestHash { return .mismatch }
                if s.text(1) != "done" { return .inProgress }
                return .replay(status: Int(s.int64(2)), body: s.bytes(3))
            }
        }
    }

    package func finishIdempotencyKey(scope: String, key: String, status: Int, body: [UInt8]) throws(StoreError) {
        try run { () throws(SQLiteError) in
            try db.prepare(
                "UPDATE idempotency_keys SET state = 'done', status = ?, response = ? WHERE scope = ? AND key = ? AND state = 'in_progress'"
            ).run([.integer(Int64(status)), .blob(body), .text(scope), .text(key)])
        }
    }

    package func releaseIdempotencyKey(scope: String, key: String) throws(StoreError) {
        try run { () throws(SQLiteError) in
            try db.prepare("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'in_progress'")
                .run([.text(scope), .text(key)])
        }
    }
}
