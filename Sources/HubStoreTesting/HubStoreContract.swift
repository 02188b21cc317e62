import HubModel
import Testing

/// The behaviour every hub storage backend shares, as checks any backend's tests run: `HubSQLite`'s tests call each
/// entry point (`HubStoreContract.market(make:)`, `.users(make:)`, …) with a `make` that opens a fresh, empty,
/// migrated store, and a second backend (PostgreSQL) calls the same ones to prove it equal. The checks go through
/// the repository protocols only, never a backend's tables; each check asks `make` for a store of its own.
///
/// Owns: the contract checks and their small fixtures. May import `HubModel`, `DabbaCore`, `DabbaProtocol` and Swift
/// Testing only (never a backend).
package enum HubStoreContract {
    /// Opens a fresh, empty, migrated store. Each entry point asks only for the repositories it checks
    /// (`agents` for ``AgentRepository`` and ``PositionRepository``, …), so a backend runs the checks of the
    /// repositories it implements.
    package typealias Make<Store: Sendable> = @Sendable () async throws -> ContractStore<Store>

    /// Runs `body` over a store of its own from `make`, ended afterwards whatever `body` did.
    static func with<Store: Sendable>(_ make: Make<Store>, _ body: (Store) async throws -> Void) async throws {
        let made = try await make()
        defer { made.end() }
        try await body(made.store)
    }

    /// Expects `body` to fail with `code` (the message is the backend's own).
    static func expect(
        _ code: StoreError.Code, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws(StoreError) -> Void
    ) async {
        do {
            try await body()
            Issue.record("expected \(code.rawValue), got success", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        }
    }

    /// A user of `role`, for checks that need an owner or a customer (the hash is opaque to a store).
    static func user<Store: UserRepository>(_ store: Store, _ email: String, role: Role, agentID: String? = nil)
        async throws -> UserRecord
    {
        try await store.createUser(email: email, passwordHash: "hash", name: "Test", role: role, agentID: agentID)
    }
}

/// A store under contract checks, and how to end it (close its connections, remove its files).
package struct ContractStore<Store: Sendable>: Sendable {
    package var store: Store
    package var end: @Sendable () -> Void

    package init(_ store: Store, end: @escaping @Sendable () -> Void) {
        self.store = store
        self.end = end
    }
}
