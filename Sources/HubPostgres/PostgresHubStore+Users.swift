import DabbaCore
import HubModel
import PostgresNIO

extension PostgresHubStore: UserRepository {
    /// The agent and the email are checked first for clear errors; the `INSERT` (its own transaction) is what
    /// decides: the unique index on `lower(email)` makes a concurrent second account a `conflict`, as does the
    /// foreign key if the agent went in between.
    package func createUser(email: String, passwordHash: String, name: String, role: Role, agentID: String?)
        async throws(StoreError) -> UserRecord
    {
        let now = wallClockMilliseconds()
        if let agentID, try await agent(id: agentID) == nil { throw StoreError(.notFound, "unknown agent \(agentID)") }
        if try await user(email: email) != nil { throw StoreError(.conflict, "a user with this email exists") }
        let id = try await run { connection in
            try await connection.scalar(
                Int64.self,
                """
                INSERT INTO users(email, password_hash, name, role, agent_id, created)
                VALUES(\(email), \(passwordHash), \(name), \(role.rawValue), \(agentID), \(now)) RETURNING id
                """, logger)
        }
        guard let id else { throw StoreError(.other, "users: the insert returned no id") }
        return UserRecord(
            id: id, email: email, passwordHash: passwordHash, name: name, role: role, agentID: agentID, createdAt: now)
    }

    /// One `SELECT` (case-insensitive, on `users_by_email`).
    package func user(email: String) async throws(StoreError) -> UserRecord? {
        try await userWhere("\(unescaped: Self.userSelect) WHERE lower(email) = lower(\(email))")
    }

    /// One `SELECT` by primary key.
    package func user(id: Int64) async throws(StoreError) -> UserRecord? {
        try await userWhere("\(unescaped: Self.userSelect) WHERE id = \(id)")
    }

    static let userSelect =
        "SELECT id, email, password_hash, name, role, agent_id, created, disabled, token_epoch FROM users"

    /// The user ``userSelect`` + a condition finds, if any.
    private func userWhere(_ query: PostgresQuery) async throws(StoreError) -> UserRecord? {
        try await run { connection in
            guard let row = try await connection.rows(query, logger).first else { return nil }
            let (id, email, hash, name, role, agentID, created, disabled, epoch) = try row.decode(
                (Int64, String, String, String, String, String?, Int64, Bool, Int64).self)
            guard let role = Role(rawValue: role) else { throw StoreError(.corrupt, "users \(id): role \(role)") }
            return UserRecord(
                id: id, email: email, passwordHash: hash, name: name, role: role, agentID: agentID, createdAt: created,
                disabled: disabled, tokenEpoch: epoch)
        }
    }

    /// One READ COMMITTED transaction: the family (once, `ON CONFLICT DO NOTHING` waits for a concurrent insert of
    /// it) and the token.
    package func addRefreshToken(hash: String, userID: Int64, family: String, expires: Int64, now: Int64)
        async throws(StoreError)
    {
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO refresh_families(family, user_id, created) VALUES(\(family), \(userID), \(now))
                ON CONFLICT(family) DO NOTHING
                """, logger: logger)
            try await connection.query(
                """
                INSERT INTO refresh_tokens(token_hash, user_id, family, expires)
                VALUES(\(hash), \(userID), \(family), \(expires))
                """, logger: logger)
        }
    }

    /// One READ COMMITTED transaction that first locks the token and its family (`SELECT … FOR UPDATE`): two hubs
    /// presenting the same token at once are serialised on those rows, and the second reads the token as used (a
    /// locking read returns the newest committed version) — `rotated` for one, `reused` for the other, as when
    /// SQLite serialises the two writers.
    package func rotateRefreshToken(hash: String, newHash: String, newExpires: Int64, now: Int64, maxLifetime: Int64)
        async throws(StoreError) -> RefreshRotation
    {
        try await transaction { connection -> RefreshRotation in
            guard
                let row = try await connection.rows(
                    """
                    SELECT t.user_id, t.family, t.expires, t.used, f.created, f.ended
                    FROM refresh_tokens t JOIN refresh_families f ON f.family = t.family WHERE t.token_hash = \(hash)
                    FOR UPDATE
                    """, logger
                ).first
            else { return .unknown }
            let (userID, family, expires, used, created, ended) = try row.decode(
                (Int64, String, Int64, Bool, Int64, Bool).self)
            if ended { return .revoked }
            if used {
                // A used token presented again: someone holds a copy. End the whole family.
                try await endFamily(family, on: connection)
                return .reused(family: family)
            }
            guard expires > now else { return .expired }
            // Checked: `created` is ours, `maxLifetime` a configured bound; saturate rather than trap.
            let absoluteEnd = Checked.add(created, maxLifetime) ?? Int64.max
            guard absoluteEnd > now else {
                try await endFamily(family, on: connection)
                return .expired
            }
            let newExpiry = min(newExpires, absoluteEnd)
            try await connection.query(
                "UPDATE refresh_tokens SET used = true WHERE token_hash = \(hash)", logger: logger)
            try await connection.query(
                """
                INSERT INTO refresh_tokens(token_hash, user_id, family, expires)
                VALUES(\(newHash), \(userID), \(family), \(newExpiry))
                """, logger: logger)
            // Expired rows of any family are no longer useful; keep the table small.
            try await connection.query("DELETE FROM refresh_tokens WHERE expires < \(now)", logger: logger)
            return .rotated(userID: userID, family: family)
        }
    }

    /// Ends `family`: its row and every token of it (inside the caller's transaction).
    private func endFamily(_ family: String, on connection: PostgresSession) async throws {
        try await connection.query("UPDATE refresh_families SET ended = true WHERE family = \(family)", logger: logger)
        try await connection.query("UPDATE refresh_tokens SET used = true WHERE family = \(family)", logger: logger)
    }

    /// One `SELECT`.
    package func refreshTokenUser(hash: String) async throws(StoreError) -> Int64? {
        try await run { connection in
            try await connection.scalar(
                Int64.self, "SELECT user_id FROM refresh_tokens WHERE token_hash = \(hash)", logger)
        }
    }

    /// One READ COMMITTED transaction that locks the token first (`FOR UPDATE`), then ends its family.
    package func revokeRefreshFamily(containing hash: String) async throws(StoreError)
        -> (family: String, user: Int64)?
    {
        let ended = try await transaction { connection -> [String: Int64] in
            guard
                let row = try await connection.rows(
                    "SELECT family, user_id FROM refresh_tokens WHERE token_hash = \(hash) FOR UPDATE", logger
                ).first
            else { return [:] }
            let (family, user) = try row.decode((String, Int64).self)
            try await endFamily(family, on: connection)
            return [family: user]
        }
        return ended.first.map { (family: $0.key, user: $0.value) }
    }

    /// One READ COMMITTED transaction; its first statement, the `UPDATE` of the user, locks the user's row, so
    /// revocations of one user are serialised and each moves the epoch on once.
    package func revokeTokens(user: Int64, disabled: Bool?) async throws(StoreError) -> Bool {
        try await transaction { connection in try await self.revokeAll(user, disabled: disabled, on: connection) }
    }

    /// One READ COMMITTED transaction: the new hash and the revocation commit together.
    package func setPassword(user: Int64, passwordHash: String) async throws(StoreError) {
        try await transaction { connection in
            try await connection.query(
                "UPDATE users SET password_hash = \(passwordHash) WHERE id = \(user)", logger: logger)
            _ = try await self.revokeAll(user, disabled: nil, on: connection)
        }
    }

    /// Moves the user's revocation epoch on, ends every family of theirs, and sets `disabled` when given (inside the
    /// caller's transaction). False when there is no such user.
    private func revokeAll(_ user: Int64, disabled: Bool?, on connection: PostgresSession) async throws -> Bool {
        let changed = try await connection.rows(
            """
            UPDATE users SET token_epoch = token_epoch + 1, disabled = coalesce(\(disabled), disabled)
            WHERE id = \(user) RETURNING 1
            """, logger
        ).count
        guard changed == 1 else { return false }
        try await connection.query("UPDATE refresh_families SET ended = true WHERE user_id = \(user)", logger: logger)
        try await connection.query("UPDATE refresh_tokens SET used = true WHERE user_id = \(user)", logger: logger)
        return true
    }

    /// One `SELECT` (the user and the sign-in from one snapshot).
    package func sessionState(user: Int64, session: String?) async throws(StoreError) -> SessionState? {
        try await run { connection in
            guard
                let row = try await connection.rows(
                    """
                    SELECT u.disabled, u.token_epoch,
                        (SELECT f.ended FROM refresh_families f WHERE f.family = \(session) AND f.user_id = u.id)
                    FROM users u WHERE u.id = \(user)
                    """, logger
                ).first
            else { return nil }
            let (disabled, epoch, ended) = try row.decode((Bool, Int64, Bool?).self)
            return SessionState(
                disabled: disabled, tokenEpoch: epoch, sessionEnded: session != nil && (ended ?? true))
        }
    }

    /// `INSERT … ON CONFLICT DO NOTHING` then a `SELECT`, each its own transaction: the insert waits for a
    /// concurrent insert of the key, and the read (a later snapshot) sees whichever value committed first, so hubs
    /// agree on it.
    package func setting(_ key: String, insertingIfAbsent value: [UInt8]) async throws(StoreError) -> [UInt8] {
        let bound = Bytea.bind(value)
        let stored = try await run { connection in
            try await connection.query(
                "INSERT INTO settings(key, value) VALUES(\(key), \(bound)) ON CONFLICT(key) DO NOTHING", logger: logger)
            return try await connection.scalar(ByteBuffer.self, "SELECT value FROM settings WHERE key = \(key)", logger)
        }
        return stored.map(Bytea.read) ?? value
    }
}
