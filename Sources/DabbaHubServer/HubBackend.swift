import DabbaCore
import Foundation
import DabbaHub
import HubModel
import HubPostgres
import HubSQLite
import Hummingbird
import Logging

/// Builds the hub application: used by `dabba-hub serve` and by the tests. Opens the store from
/// `configuration.database` (migrating it), and runs MQTT, ingest, the pruner and webhook delivery (and on SQLite the
/// WAL's checkpoints, ``StoreCheckpoints``) as services of the application, so a graceful shutdown stops the HTTP
/// server, then webhooks, the pruner, ingest, MQTT, the checkpoints, and last closes the store.
package func buildApplication(configuration: HubConfiguration, logger: Logger) async throws -> some ApplicationProtocol
{
    try PaymentProviders.check(configuration)
    let (store, close) = try await HubApplication.openStore(configuration: configuration, logger: logger)
    do {
        let hub = try await HubComponents.make(configuration: configuration, store: store, logger: logger)
        // The embedded store's WAL is copied into its file in the background, not by the commits.
        let checkpoints = try configuration.sqlitePath.map { path in
            StoreCheckpoints(checkpointer: try SQLiteCheckpointer(path: path), metrics: hub.metrics, logger: logger)
        }
        return HubApplication.build(hub: hub, logger: logger, closing: close, services: checkpoints.map { [$0] } ?? [])
    } catch {
        close()
        throw error
    }
}

extension HubApplication {
    /// Opens (and migrates) the store `database` names, to serve from, with how to close it: `sqlite:PATH` (the
    /// embedded store) or `postgres://…` (``PostgresStoreConfiguration``; several hubs may serve from one database).
    /// A malformed URL is a ``ConfigError`` naming the key; a server that cannot be reached fails at once with its
    /// answer (``PostgresHubStore/open(_:logger:)``).
    package static func openStore(configuration: HubConfiguration, logger: Logger) async throws
        -> (store: any HubStore, close: @Sendable () -> Void)
    {
        if let path = configuration.sqlitePath {
            let store = try SQLiteHubStore(path: path, logger: logger)
            return (store, { store.close() })
        }
        let postgres: PostgresStoreConfiguration
        do {
            postgres = try PostgresStoreConfiguration(url: configuration.database)
        } catch {
            throw ConfigError(key: "database", message: error.message)
        }
        let store = try await PostgresHubStore.open(postgres, logger: logger)
        return (store, { store.close() })
    }
}

/// What the admin commands (`migrate`, `users`, `agents`) need from a store, on either backend: the repositories
/// they use, the schema version, and closing.
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
