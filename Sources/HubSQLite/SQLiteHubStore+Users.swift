import DabbaCore
import DabbaSQLite
import HubModel

extension SQLiteHubStore: UserRepository {
    package func createUser(email: String, passwordHash: String, name: String, role: Role, agentID: String?)
        throws(StoreError) -> UserRecord
    {
        let now = wallClockMilliseconds()
        if let agentID, try agent(id: agentID) == nil { throw StoreError(.notFound, "unknown agent \(agentID)") }
        if try user(email: email) != nil { throw StoreError(.conflict, "a user with this email exists") }
        let id = try run { () throws(SQLiteError) -> Int64 in
            try db.prepare(
                "INSERT INTO users(email, password_hash, name, role, agent_id, created) VALUES(?, ?, ?, ?, ?, ?)"
            ).run([
                .text(email), .text(passwordHash), .text(name), .text(role.rawValue),
                agentID.map { .text($0) } ?? .null, .integer(now),
            ])
            return try db.scalarInt("SELECT last_insert_rowid()") ?? 0
        }
        return UserRecord(
            id: id, email: email, passwordHash: passwordHash, name: name, role: role, agentID: agentID, createdAt: now)
    }

    package func user(email: String) throws(StoreError) -> UserRecord? {
        try userWhere("email = ?", .text(email))
    }

    package func user(id: Int64) throws(StoreError) -> UserRecord? {
        try userWhere("id = ?", .integer(id))
    }

    private func userWhere(_ condition: String, _ value: SQLiteValue) throws(StoreError) -> UserRecord? {
        try run { () throws(SQLiteError) -> UserRecord? in
            let s = try db.prepare(
                "SELECT id, email, password_hash, name, role, agent_id, created, disabled, token_epoch FROM users WHERE "
                    + condition)
            defer { s.reset() }
            try s.bind([value])
            guard try s.step() else { return nil }
            return UserRecord(
                id: s.int64(0), email: s.text(1) ?? "", passwordHash: s.text(2) ?? "", name: s.text(3) ?? "",
                role: Role(rawValue: s.text(4) ?? "") ?? .customer, agentID: s.text(5), createdAt: s.int64(6),
                disabled: s.int64(7) != 0, tokenEpoch: s.int64(8))
        }
    }

    package func addRefreshToken(hash: String, userID: Int64, family: String, expires: Int64, now: Int64)
        throws(StoreError)
    {
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                try db.prepare(
                    "INSERT INTO refresh_families(family, user_id, created) VALUES(?, ?, ?) ON CONFLICT(family) DO NOTHING"
                ).run([.text(family), .integer(userID), .integer(now)])
                try db.prepare("INSERT INTO refresh_tokens(token_hash, user_id, family, expires) VALUES(?, ?, ?, ?)")
                    .run([.text(hash), .integer(userID), .text(family), .integer(expires)])
            }
        }
    }

    package func rotateRefreshToken(hash: String, newHash: String, newExpires: Int64, now: Int64, maxLifetime: Int64)
        throws(StoreError) -> RefreshRotation
    {
        try run { () throws(SQLiteError) -> RefreshRotation in
            try db.transaction { () throws(SQLiteError) -> RefreshRotation in
                let s = try db.prepare(
                    """
                    SELECT t.user_id, t.family, t.expires, t.used, f.created, f.ended
                    FROM refresh_tokens t JOIN refresh_families f ON f.family = t.family WHERE t.token_hash = ?
                    """)
                try s.bind([.text(hash)])
                guard try s.step() else {
                    s.reset()
                    return .unknown
                }
                let (userID, family, expires, used) = (s.int64(0), s.text(1) ?? "", s.int64(2), s.int64(3) != 0)
                let (created, ended) = (s.int64(4), s.int64(5) != 0)
                s.reset()
                if ended { return .revoked }
                if used {
                    // A used token presented again: someone holds a copy. End the whole family.
                    try endFamily(family)
                    return .reused(family: family)
                }
                guard expires > now else { return .expired }
                // Checked: `created` is ours, `maxLifetime` a configured bound; saturate rather than trap.
                let absoluteEnd = Checked.add(created, maxLifetime) ?? Int64.max
                guard absoluteEnd > now else {
                    try endFamily(family)
                    return .expired
                }
                try db.prepare("UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?").run([.text(hash)])
                try db.prepare("INSERT INTO refresh_tokens(token_hash, user_id, family, expires) VALUES(?, ?, ?, ?)")
                    .run([.text(newHash), .integer(userID), .text(family), .integer(min(newExpires, absoluteEnd))])
                // Expired rows of any family are no longer useful; keep the table small.
                try db.prepare("DELETE FROM refresh_tokens WHERE expires < ?").run([.integer(now)])
                return .rotated(userID: userID, family: family)
            }
        }
    }

    /// Ends `family`: its row and every token of it (inside the caller's transaction).
    private func endFamily(_ family: String) throws(SQLiteError) {
        try db.prepare("UPDATE refresh_families SET ended = 1 WHERE family = ?").run([.text(family)])
        try db.prepare("UPDATE refresh_tokens SET used = 1 WHERE family = ?").run([.text(family)])
    }

    package func refreshTokenUser(hash: String) throws(StoreError) -> Int64? {
        try run { () throws(SQLiteError) -> Int64? in
            try db.scalarInt("SELECT user_id FROM refresh_tokens WHERE token_hash = ?", [.text(hash)])
        }
    }

    package func revokeRefreshFamily(containing hash: String) throws(StoreError) -> (family: String, user: Int64)? {
        try run { () throws(SQLiteError) -> (family: String, user: Int64)? in
            try db.transaction { () throws(SQLiteError) -> (family: String, user: Int64)? in
                let s = try db.prepare("SELECT family, user_id FROM refresh_tokens WHERE token_hash = ?")
                defer { s.reset() }
                try s.bind([.text(hash)])
                guard try s.step(), let family = s.text(0) else { return nil }
                let user = s.int64(1)
                s.reset()
                try endFamily(family)
                return (family, user)
            }
        }
    }

    package func revokeTokens(user: Int64, disabled: Bool?) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) -> Bool in
            try db.transaction { () throws(SQLiteError) -> Bool in try revokeAll(user, disabled: disabled) }
        }
    }

    package func setPassword(user: Int64, passwordHash: String) throws(StoreError) {
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                try db.prepare("UPDATE users SET password_hash = ? WHERE id = ?").run([
                    .text(passwordHash), .integer(user),
                ])
                _ = try revokeAll(user, disabled: nil)
            }
        }
    }

    /// Moves the user's revocation epoch on, ends every family of theirs, and sets `disabled` when given (inside the
    /// caller's transaction). False when there is no such user.
    private func revokeAll(_ user: Int64, disabled: Bool?) throws(SQLiteError) -> Bool {
        try db.prepare("UPDATE users SET token_epoch = token_epoch + 1, disabled = COALESCE(?, disabled) WHERE id = ?")
            .run([disabled.map { .integer($0 ? 1 : 0) } ?? .null, .integer(user)])
        guard db.changes == 1 else { return false }
        try db.prepare("UPDATE refresh_families SET ended = 1 WHERE user_id = ?").run([.integer(user)])
        try db.prepare("UPDATE refresh_tokens SET used = 1 WHERE user_id = ?").run([.integer(user)])
        return true
    }

    package func sessionState(user: Int64, session: String?) throws(StoreError) -> SessionState? {
        try run { () throws(SQLiteError) -> SessionState? in
            let s = try db.prepare(
                """
                SELECT u.disabled, u.token_epoch,
                    (SELECT f.ended FROM refresh_families f WHERE f.family = ?2 AND f.user_id = u.id)
                FROM users u WHERE u.id = ?1
                """)
            defer { s.reset() }
            try s.bind([.integer(user), session.map { .text($0) } ?? .null])
            guard try s.step() else { return nil }
            let ended = session != nil && (s.isNull(2) || s.int64(2) != 0)
            return SessionState(disabled: s.int64(0) != 0, tokenEpoch: s.int64(1), sessionEnded: ended)
        }
    }

    package func setting(_ key: String, insertingIfAbsent value: [UInt8]) throws(StoreError) -> [UInt8] {
        try run { () throws(SQLiteError) -> [UInt8] in
            try db.prepare("INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO NOTHING")
                .run([.text(key), .blob(value)])
            let s = try db.prepare("SELECT value FROM settings WHERE key = ?")
            defer { s.reset() }
            try s.bind([.text(key)])
            return try s.step() ? s.bytes(0) : value
        }
    }
}
