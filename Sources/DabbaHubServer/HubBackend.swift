import DabbaCore
import DabbaHub
import HubModel
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
    /// Opens (and migrates) the store `database` names. `postgres://` is refused for now, naming the key.
    package static func openStore(configuration: HubConfiguration, logger: Logger) throws -> SQLiteHubStore {
        guard let path = configuration.sqlitePath else {
            throw ConfigError(
                key: "database", message: "database: PostgreSQL (postgres://) is not supported yet; use sqlite:PATH")
        }
        return try SQLiteHubStore(path: path, logger: logger)
    }
}
