import DabbaCore
import Foundation
import DabbaHub
import HubModel
import HubPostgres
import HubSQLite
import Hummingbird
import Logging

/// Builds the hub application: used by `dabba-hub serve` and by the tests. Opens the store from
/// `configuration.database` (migrating it), and runs MQTT, ingest, the pruner and webhook delivery as services of the
/// application, so a graceful shutdown stops the HTTP server, then webhooks, the pruner, ingest, MQTT, and last
/// closes the store.
package func buildApplication(configuration: HubConfiguration, logger: Logger) async throws -> some ApplicationProtocol
{
    try PaymentProviders.check(configuration)
    let store = try HubApplication.openStore(configuration: configuration, logger: logger)
    do {
        let hub = try await HubComponents.make(configuration: configuration, store: store, logger: logger)
        return HubApplication.build(hub: hub, logger: logger, closing: { store.close() })
    } catch {
        store.close()
        throw error
    }
}

extension HubApplication {
    /// Opens (and migrates) the store `database` names, to serve from. `postgres://` is refused for now, naming the
    /// key: `HubPostgres` does not implement every repository yet (issue 16); the admin commands use it already
    /// (``HubStoreAccess``).
    package static func openStore(configuration: HubConfiguration, logger: Logger) throws -> SQLiteHubStore {
        guard let path = configuration.sqlitePath else {
            throw ConfigError(
                key: "database",
                message: "database: serving from PostgreSQL (postgres://) is not supported yet: its store has agents, "
                    + "positions, users and the market so far (dabba-hub migrate, users and agents work on it); "
                    + "use sqlite:PATH")
        }
        return try SQLiteHubStore(path: path, logger: logger)
    }
}

/// What the admin commands (`migrate`, `users`, `agents`) need from a store, on either backend: the repositories
/// PostgreSQL implements today, the schema version, and closing.
package protocol AdminStore: AgentRepository, UserRepository {
    /// The schema version after migrations.
    func schemaVersion() async throws(StoreError) -> Int
    /// Ends the store's connections (after the last use).
    func close()
}

extension SQLiteHubStore: AdminStore {}
extension PostgresHubStore: AdminStore {}

extension HubConfiguration {
    /// The `database` setting with a URL's password replaced by `***` (for messages).
    package var databaseForDisplay: String {
        guard sqlitePath == nil, var parts = URLComponents(string: database), parts.password != nil else {
            return database
        }
        parts.password = "***"
        return parts.string ?? "postgres://…"
    }
}
