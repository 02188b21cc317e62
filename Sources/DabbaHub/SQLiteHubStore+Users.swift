import DabbaCore
import DabbaSQLite

extension SQLiteHubStore: UserRepository {
    public func createUser(email: String, passwordHash: String, name: String, role: Role, agentID: String?)
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

    public func user(email: String) throws(StoreError) -> UserRecord? {
        try userWhere("email = ?", .text(email))
    }

    public func user(id: Int64) throws(StoreError) -> UserRecord? {
        try userWhere("id = ?", .integer(id))
    }

    private func userWhere(_ condition: String, _ value: SQLiteValue) throws(StoreError) -> UserRecord? {
        try run { () throws(SQLiteError) -> UserRecord? in
            let s = try db.prepare(
                "SELECT id, email, password_hash, name, role, agent_id, created FROM users WHERE " + condition)
            defer { s.reset() }
            try s.bind([value])
            guard try s.step() else { return nil }
            return UserRecord(
                id: s.int64(0), email: s.text(1) ?? "", passwordHash: s.text(2) ?? "", name: s.text(3) ?? "",
                role: Role(rawValue: s.text(4) ?? "") ?? .customer, agentID: s.text(5), createdAt: s.int64(6))
        }
    }

    public func addRefreshToken(hash: String, userID: Int64, family: String, expires: Int64) throws(StoreError) {
        try run { () throws(SQLiteError) in
            try db.prepare("INSERT INTO refresh_tokens(token_hash, user_id, family, expires) VALUES(?, ?, ?, ?)")
                .run([.text(hash), .integer(userID), .text(family), .integer(expires)])
        }
    }

    public func rotateRefreshToken(hash: String, newHash: String, newExpires: Int64, now: Int64)
        throws(StoreError) -> RefreshRotation
    {
        try run { () throws(SQLiteError) -> RefreshRotation in
            try db.transaction { () throws(SQLiteError) -> RefreshRotation in
                let s = try db.prepare("SELECT user_id, family, expires, used FROM refresh_tokens WHERE token_hash = ?")
                try s.bind([.text(hash)])
                guard try s.step() else { return .unknown }
                let (userID, family, expires, used) = (s.int64(0), s.text(1) ?? "", s.int64(2), s.int64(3) != 0)
                s.reset()
                if used {
                    // A used token presented again: someone holds a copy. Revoke the whole family.
                    try db.prepare("UPDATE refresh_tokens SET used = 1 WHERE family = ?").run([.text(family)])
                    return .reused(family: family)
                }
                guard expires > now else { return .expired }
                try db.prepare("UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?").run([.text(hash)])
                try db.prepare("INSERT INTO refresh_tokens(token_hash, user_id, family, expires) VALUES(?, ?, ?, ?)")
                    .run([.text(newHash), .integer(userID), .text(family), .integer(newExpires)])
                // Expired rows of any family are no longer useful; keep the table small.
                try db.prepare("DELETE FROM refresh_tokens WHERE expires < ?").run([.integer(now)])
                return .rotated(userID: userID, family: family)
            }
        }
    }

    public func revokeRefreshFamily(containing hash: String) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) -> Bool in
            try db.prepare(
                """
                UPDATE refresh_tokens SET used = 1
                WHERE family = (SELECT family FROM refresh_tokens WHERE token_hash = ?)
                """
            ).run([.text(hash)])
            return db.changes > 0
        }
    }

    public func setting(_ key: String, insertingIfAbsent value: [UInt8]) throws(StoreError) -> [UInt8] {
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
