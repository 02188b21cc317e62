import DabbaTestSupport
import HubModel
import HubSQLite
import HubStoreTesting
import Logging
import Testing

/// `SQLiteHubStore` passes the storage contract every backend passes (``HubStoreContract``), each check over a
/// fresh database file.
@Suite struct SQLiteHubStoreContractTests {
    static let make: HubStoreContract.Make<SQLiteHubStore> = {
        let directory = try TestDirectory("hub-contract")
        // Opening migrates: blocking work, off the cooperative pool.
        let store = try await offPool {
            var logger = Logger(label: "hub-contract")
            logger.logLevel = .critical
            return try SQLiteHubStore(path: directory.path("hub.db"), logger: logger)
        }
        return ContractStore(store) {
            store.close()
            directory.remove()
        }
    }

    @Test func agentsAndPositions() async throws { try await HubStoreContract.agents(make: Self.make) }
    @Test func users() async throws { try await HubStoreContract.users(make: Self.make) }
    @Test func market() async throws { try await HubStoreContract.market(make: Self.make) }
    @Test func idempotency() async throws { try await HubStoreContract.idempotency(make: Self.make) }
    @Test func ordersAndTheirTrail() async throws { try await HubStoreContract.orders(make: Self.make) }
    @Test func paymentsAndTheLedger() async throws { try await HubStoreContract.payments(make: Self.make) }
    @Test func webhooks() async throws { try await HubStoreContract.webhooks(make: Self.make) }
    @Test func offersAndDecisions() async throws { try await HubStoreContract.dispatch(make: Self.make) }
    @Test func aRoundsOffersDecideAsOneByOne() async throws { try await HubStoreContract.offerRounds(make: Self.make) }
    @Test func leases() async throws { try await HubStoreContract.leases(make: Self.make) }
}
