import ArgumentParser
import DabbaCore
import DabbaHub
import HubModel
import HubPostgres
import HubSQLite
import Hummingbird
import Logging

#if canImport(Glibc)
    import Glibc
#endif
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `dabba-hub`: the hub server and its admin commands.
package struct HubCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "dabba-hub",
        abstract: "Dabba hub: MQTT ingest, storage, auth, REST and live feeds.",
        discussion: """
            Configuration: defaults, then the config file (/etc/default/dabba-hub, DABBA_*=value lines), then the \
            environment (DABBA_HTTP_PORT …), then flags (--http-port …). `dabba-hub defaults` prints every key with \
            its default and one line of help.

            Exit status: 0 success; 1 runtime failure; 2 bad configuration or usage.
            """,
        // The lead adds `AgentsCommand` (agents provision) here.
        subcommands: [
            ServeCommand.self, MigrateCommand.self, UsersCommand.self, AgentsCommand.self, HubDefaultsCommand.self,
        ])
    package init() {}
}

/// `dabba-hub serve`: the server systemd starts.
package struct ServeCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the hub (HTTP API, MQTT ingest); stops gracefully on SIGTERM/SIGINT.",
        discussion: HubOptions.helpText)
    @OptionGroup package var options: HubOptions
    package init() {}

    package func run() async throws {
        let configuration = options.resolveOrExit()
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = DeferredMetadataLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "dabba-hub")
        let app = await Self.build(configuration, logger: logger)
        logger.notice(
            "dabba-hub starting",
            metadata: [
                "http.host": "\(configuration.httpHost)", "http.port": "\(configuration.httpPort)",
                "db.url": "\(configuration.database)", "mqtt.host": "\(configuration.mqttHost)",
                "mqtt.port": "\(configuration.mqttPort)",
            ])
        if configuration.jwtSecretFile == nil {
            logger.warning(
                "jwt-secret-file is not set: the access-token signing key is kept in the database; set it in production (README, Secrets)"
            )
        }
        do {
            try await app.runService()
        } catch {
            logger.critical("dabba-hub failed", metadata: ["error": "\(error)"])
            exitWithMessage("dabba-hub: \(error)", code: 1)
        }
        logger.notice("dabba-hub stopped")
    }

    static func build(_ configuration: HubConfiguration, logger: Logger) async -> some ApplicationProtocol {
        do {
            return try await buildApplication(configuration: configuration, logger: logger)
        } catch let error as ConfigError {
            exitWithMessage("dabba-hub: \(error.message)", code: 2)
        } catch {
            exitWithMessage("dabba-hub: cannot start: \(error)", code: 1)
        }
    }
}

/// `dabba-hub migrate`: applies pending migrations and prints the schema version.
package struct MigrateCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply pending database migrations (serve also does this at start).",
        discussion: "Takes every configuration key `dabba-hub serve --help` lists (the database and log level matter).")
    @OptionGroup package var options: HubOptions
    package init() {}

    package func run() async throws {
        let store = await HubStoreAccess.open(options.resolveOrExit())
        defer { store.close() }
        do {
            print("schema version \(try await store.schemaVersion())")
        } catch {
            exitWithMessage("dabba-hub: \(error)", code: 1)
        }
    }
}

/// `dabba-hub defaults`: the commented default config file.
package struct HubDefaultsCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "defaults", abstract: "Print the default config file: every key, commented, with its default.")
    package init() {}
    package func run() { print(HubConfiguration.defaultFile, terminator: "") }
}

extension HubConfiguration {
    /// The text of `systemd/dabba-hub.default`.
    package static var defaultFile: String {
        LayeredConfiguration.defaultFile(
            keys: keys,
            header: [
                "dabba-hub configuration: /etc/default/dabba-hub (loaded by systemd with EnvironmentFile=).",
                "Every key is shown commented out with its default. Order of precedence: defaults, this file,",
                "the environment, command-line flags (--http-port …). `dabba-hub defaults` prints this file.",
            ])
    }
}

extension HubOptions {
    /// The configuration, or exit 2 with a message naming the bad key.
    func resolveOrExit() -> HubConfiguration {
        do {
            return try resolve(environment: ProcessInfo.processInfo.environment)
        } catch {
            exitWithMessage("dabba-hub: \(error.message)", code: 2)
        }
    }
}

/// Opening the store for admin commands: config errors exit 2, others 1. `sqlite:PATH` or `postgres://…` (the
/// repositories the commands use are implemented on both).
enum HubStoreAccess {
    static func open(_ configuration: HubConfiguration) async -> any AdminStore {
        var logger = Logger(label: "dabba-hub")
        logger.logLevel = configuration.logLevel
        do {
            if let path = configuration.sqlitePath { return try SQLiteHubStore(path: path, logger: logger) }
            let postgres: PostgresStoreConfiguration
            do {
                postgres = try PostgresStoreConfiguration(url: configuration.database)
            } catch {
                exitWithMessage("dabba-hub: \(error.message)", code: 2)
            }
            return try await PostgresHubStore.open(postgres, logger: logger)
        } catch {
            exitWithMessage("dabba-hub: cannot open \(configuration.databaseForDisplay): \(error)", code: 1)
        }
    }
}
