import DabbaTestSupport
import HubModel
import HubPostgres
import HubStoreTesting
import Logging
import Testing

/// `PostgresHubStore` passes the storage contract every backend passes (``HubStoreContract``) for every
/// repository, each check over a fresh database of a real PostgreSQL 15 the test starts (``PostgresServer``).
@Suite struct PostgresHubStoreContractTests {
    /// Opens a store on a new, migrated database of `server`.
    static func make(_ server: PostgresServer) -> HubStoreContract.Make<PostgresHubStore> {
        {
            let store = try await PostgresStoreTesting.open(server, database: try await server.createDatabase())
            return ContractStore(store) { store.close() }
        }
    }

    @Test func agentsAndPositions() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.agents(make: Self.make(server)) }
    }

    @Test func users() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.users(make: Self.make(server)) }
    }

    @Test func market() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.market(make: Self.make(server)) }
    }

    @Test func idempotency() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.idempotency(make: Self.make(server)) }
    }

    @Test func ordersAndTheirTrail() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.orders(make: Self.make(server)) }
    }

    @Test func paymentsAndTheLedger() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.payments(make: Self.make(server)) }
    }

    @Test func webhooks() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.webhooks(make: Self.make(server)) }
    }

    @Test func offersAndDecisions() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.dispatch(make: Self.make(server)) }
    }

    @Test func aRoundsOffersDecideAsOneByOne() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.offerRounds(make: Self.make(server)) }
    }

    @Test func leases() async throws {
        try await PostgresServer.with { server in try await HubStoreContract.leases(make: Self.make(server)) }
    }
}

/// Helpers for opening stores on a test server.
enum PostgresStoreTesting {
    static var quiet: Logger {
        var logger = Logger(label: "hub-postgres-test")
        logger.logLevel = .critical
        return logger
    }

    /// A store on `database` of `server` (migrated by opening).
    static func open(_ server: PostgresServer, database: String) async throws -> PostgresHubStore {
        let configuration = try PostgresStoreConfiguration(url: server.url(database: database) + "?sslmode=disable")
        return try await PostgresHubStore.open(configuration, logger: quiet)
    }
}
