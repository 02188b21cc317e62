import HubModel
import Testing

/// ``UserRepository``: accounts, refresh-token families, revocation and settings.
extension HubStoreContract {
    package static func users<Store: UserRepository & AgentRepository>(make: Make<Store>) async throws {
        try await with(make) { try await accountsAreUniqueByEmailWhateverItsCase($0) }
        try await with(make) { try await aRefreshTokenRotatesOnceAndItsReuseEndsTheFamily($0) }
        try await with(make) { try await revokingMovesTheEpochAndEndsEverySignIn($0) }
        try await with(make) { try await aSettingIsStoredOnceThenKept($0) }
    }

    static func accountsAreUniqueByEmailWhateverItsCase(_ store: some UserRepository & AgentRepository) async throws {
        let asha = try await user(store, "Asha@Example.com", role: .customer)
        #expect(asha.role == .customer && asha.agentID == nil && !asha.disabled && asha.tokenEpoch == 0)
        #expect(try await store.user(email: "asha@example.com") == asha)
        #expect(try await store.user(id: asha.id) == asha)
        #expect(try await store.user(email: "nobody@example.com") == nil)
        #expect(try await store.user(id: asha.id + 1000) == nil)
        await #expect(throws: StoreError.self) { try await user(store, "ASHA@example.com", role: .operator) }
        // An agent user names an existing agent.
        await #expect(throws: StoreError.self) { try await user(store, "a@example.com", role: .agent, agentID: "a-9") }
        _ = try await store.createAgent(id: "a-1", name: "A")
        #expect(try await user(store, "a@example.com", role: .agent, agentID: "a-1").agentID == "a-1")
    }

    static func aRefreshTokenRotatesOnceAndItsReuseEndsTheFamily(_ store: some UserRepository & AgentRepository)
        async throws
    {
        let id = try await user(store, "c@example.com", role: .customer).id
        let now: Int64 = 1_800_000_000_000
        let hour: Int64 = 3_600_000
        try await store.addRefreshToken(hash: "t1", userID: id, family: "f1", expires: now + hour, now: now)
        #expect(try await store.refreshTokenUser(hash: "t1") == id)
        #expect(try await store.sessionState(user: id, session: "f1")?.sessionEnded == false)
        #expect(
            try await store.rotateRefreshToken(
                hash: "t1", newHash: "t2", newExpires: now + hour, now: now + 1,
                maxLifetime: 24 * hour) == .rotated(userID: id, family: "f1"))
        // The used token presented again: someone holds a copy, so the whole sign-in ends.
        #expect(
            try await store.rotateRefreshToken(
                hash: "t1", newHash: "t3", newExpires: now + hour, now: now + 2,
                maxLifetime: 24 * hour) == .reused(family: "f1"))
        #expect(
            try await store.rotateRefreshToken(
                hash: "t2", newHash: "t4", newExpires: now + hour, now: now + 3,
                maxLifetime: 24 * hour) == .revoked)
        #expect(try await store.sessionState(user: id, session: "f1")?.sessionEnded == true)
        #expect(
            try await store.rotateRefreshToken(
                hash: "never", newHash: "t5", newExpires: now + hour, now: now,
                maxLifetime: 24 * hour) == .unknown)
        // Past its expiry, and past the sign-in's absolute lifetime however fresh the token.
        try await store.addRefreshToken(hash: "e1", userID: id, family: "f2", expires: now + hour, now: now)
        #expect(
            try await store.rotateRefreshToken(
                hash: "e1", newHash: "e2", newExpires: now + 3 * hour,
                now: now + 2 * hour, maxLifetime: 24 * hour) == .expired)
        try await store.addRefreshToken(hash: "l1", userID: id, family: "f3", expires: now + 48 * hour, now: now)
        #expect(
            try await store.rotateRefreshToken(
                hash: "l1", newHash: "l2", newExpires: now + 48 * hour,
                now: now + 25 * hour, maxLifetime: 24 * hour) == .expired)
        #expect(try await store.sessionState(user: id, session: "f3")?.sessionEnded == true)
        // Logout ends the family the token belongs to.
        try await store.addRefreshToken(hash: "o1", userID: id, family: "f4", expires: now + hour, now: now)
        let ended = try await store.revokeRefreshFamily(containing: "o1")
        #expect(ended?.family == "f4" && ended?.user == id)
        #expect(try await store.revokeRefreshFamily(containing: "never") == nil)
        #expect(try await store.sessionState(user: id, session: "f4")?.sessionEnded == true)
        // An unknown sign-in counts as ended; no sign-in asked about is not.
        #expect(try await store.sessionState(user: id, session: "f-unknown")?.sessionEnded == true)
        #expect(try await store.sessionState(user: id, session: nil)?.sessionEnded == false)
    }

    static func revokingMovesTheEpochAndEndsEverySignIn(_ store: some UserRepository & AgentRepository) async throws {
        let id = try await user(store, "c@example.com", role: .customer).id
        let now: Int64 = 1_800_000_000_000
        let hour: Int64 = 3_600_000
        try await store.addRefreshToken(hash: "t1", userID: id, family: "f1", expires: now + hour, now: now)
        #expect(try await store.revokeTokens(user: id, disabled: true))
        #expect(
            try await store.sessionState(user: id, session: "f1")
                == SessionState(
                    disabled: true, tokenEpoch: 1, sessionEnded: true))
        #expect(
            try await store.rotateRefreshToken(
                hash: "t1", newHash: "t2", newExpires: now + hour, now: now + 1,
                maxLifetime: 24 * hour) == .revoked)
        // Enabling again moves the epoch on too; the old sign-in stays ended.
        #expect(try await store.revokeTokens(user: id, disabled: false))
        #expect(
            try await store.sessionState(user: id, session: "f1")
                == SessionState(
                    disabled: false, tokenEpoch: 2, sessionEnded: true))
        // A new password revokes as well.
        try await store.addRefreshToken(hash: "p1", userID: id, family: "f2", expires: now + hour, now: now)
        try await store.setPassword(user: id, passwordHash: "new-hash")
        #expect(try await store.user(id: id)?.passwordHash == "new-hash")
        #expect(
            try await store.sessionState(user: id, session: "f2")
                == SessionState(
                    disabled: false, tokenEpoch: 3, sessionEnded: true))
        #expect(try await store.revokeTokens(user: id + 1000, disabled: nil) == false)
        #expect(try await store.sessionState(user: id + 1000, session: nil) == nil)
    }

    static func aSettingIsStoredOnceThenKept(_ store: some UserRepository & AgentRepository) async throws {
        #expect(try await store.setting("jwt-secret", insertingIfAbsent: [1, 2, 3]) == [1, 2, 3])
        #expect(try await store.setting("jwt-secret", insertingIfAbsent: [9]) == [1, 2, 3])
        #expect(try await store.setting("other", insertingIfAbsent: []) == [])
    }
}
