import DabbaCore
@testable import DabbaHubServer
import DabbaTestSupport
import Foundation
import HubPostgres
@testable import HubSQLite
import Testing

@testable import DabbaHub

/// The `dabba-hub` binary: bad configuration exits 2 naming the key; migrate, users add and defaults work.
@Suite(.serialized) struct HTTPCommandTests {
    /// Runs `dabba-hub` to completion off the cooperative pool (the suite's other tests keep running meanwhile).
    func hub(_ arguments: [String], environment: [String: String]? = nil) async throws -> (Int32, String) {
        let binary = try BuiltProducts.path(of: "dabba-hub")
        return try await offPool { try runToCompletion(binary, arguments, environment: environment) }
    }

    @Test(arguments: [
        (["--http-port", "99999"], "http-port"),
        (["--database", "mysql://x"], "database"),
        (["--database", "postgres://hub@db/hub?sslmode=maybe", "--payment-provider", "test"], "database: sslmode"),
        (["--max-body-bytes", "12"], "max-body-bytes"),
        (["--log-level", "loud"], "log-level"),
        (["--owntracks-map", "nonsense"], "owntracks-map"),
        // No payment provider is the default, and card payments are: the hub refuses to start (issue 13, item 7).
        ([], "payment-provider: card payments are enabled"),
        (["--payment-provider", "stripe"], "payment-provider"),
        (["--payment-methods", "cheque"], "payment-methods"),
        (["--rate-limit-login-account", "ten"], "rate-limit-login-account"),
        (["--rate-limit-ticket-address", "5/0"], "rate-limit-ticket-address"),
        (["--webhook-allow-hosts", "bad host!"], "webhook-allow-hosts"),
        (["--trusted-proxies", "the-proxy"], "trusted-proxies"),
    ])
    func badConfigurationExitsTwoNamingTheKey(arguments: [String], key: String) async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let (status, output) = try await hub(
            ["serve", "--config", "/dev/null", "--database", "sqlite:" + dir.path("h.db")] + arguments)
        #expect(status == 2, "\(output)")
        #expect(output.contains(key), "\(output)")
    }

    @Test func badConfigFileAndEnvironmentValuesAreNamed() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let file = dir.path("hub.default")
        try "DABBA_MQTT_PORT=abc\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try await hub(["serve", "--config", file])
        #expect(status == 2 && output.contains("mqtt-port") && output.contains(file), "\(output)")

        var environment = ProcessInfo.processInfo.environment
        environment["DABBA_ACCESS_TOKEN_TTL"] = "5"
        let (envStatus, envOutput) = try await hub(["migrate", "--config", "/dev/null"], environment: environment)
        #expect(envStatus == 2 && envOutput.contains("DABBA_ACCESS_TOKEN_TTL"), "\(envOutput)")

        let (missingStatus, missingOutput) = try await hub(["serve", "--config", dir.path("absent")])
        #expect(missingStatus == 2 && missingOutput.contains("absent"), "\(missingOutput)")
    }

    @Test func migrateAndUsersAddCreateALoginableOperator() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let database = "sqlite:" + dir.path("hub.db")
        let (status, output) = try await hub(["migrate", "--config", "/dev/null", "--database", database])
        let latest = HubMigrations.all.map(\.version).max() ?? 0
        #expect(status == 0 && output.contains("schema version \(latest)"), "\(output)")

        try "first-operator-pw\n".write(toFile: dir.path("pw"), atomically: true, encoding: .utf8)
        let add = ["users", "add", "--config", "/dev/null", "--database", database, "--password-file", dir.path("pw")]
        let (added, addOutput) = try await hub(add + ["--role", "operator", "--email", "boss@example.com"])
        #expect(added == 0 && addOutput.contains("boss@example.com operator"), "\(addOutput)")
        let (again, againOutput) = try await hub(add + ["--role", "operator", "--email", "BOSS@example.com"])
        #expect(again == 1 && againOutput.contains("exists"), "\(againOutput)")
        let (badRole, badRoleOutput) = try await hub(add + ["--role", "king", "--email", "k@example.com"])
        #expect(badRole == 2 && badRoleOutput.contains("--role"), "\(badRoleOutput)")
        let (noAgent, noAgentOutput) = try await hub(
            add + ["--role", "agent", "--email", "a@example.com", "--agent-id", "a-9"])
        #expect(noAgent == 2 && noAgentOutput.contains("no such agent"), "\(noAgentOutput)")

        let store = try SQLiteHubStore(path: dir.path("hub.db"), logger: .init(label: "t"))
        defer { store.close() }
        let user = try #require(try await store.user(email: "boss@example.com"))
        #expect(user.role == .operator && user.passwordHash.hasPrefix("$2b$12$"))
    }

    @Test func migrateUsersAndAgentsWorkOnPostgreSQL() async throws {
        try await PostgresServer.with { server in
            let database = server.url(database: try await server.createDatabase()) + "?sslmode=disable"
            let base = ["--config", "/dev/null", "--database", database]
            let (status, output) = try await hub(["migrate"] + base)
            #expect(
                status == 0 && output.contains("schema version \(PostgresHubStore.latestSchemaVersion)"), "\(output)")
            let (again, againOutput) = try await hub(["migrate"] + base)
            #expect(again == 0 && againOutput.contains("schema version \(PostgresHubStore.latestSchemaVersion)"))

            let dir = try TestDirectory()
            defer { dir.remove() }
            try "first-operator-pw\n".write(toFile: dir.path("pw"), atomically: true, encoding: .utf8)
            let add = ["users", "add"] + base + ["--password-file", dir.path("pw")]
            let (added, addOutput) = try await hub(add + ["--role", "operator", "--email", "boss@example.com"])
            #expect(added == 0 && addOutput.contains("boss@example.com operator"), "\(addOutput)")
            let (twice, twiceOutput) = try await hub(add + ["--role", "operator", "--email", "BOSS@example.com"])
            #expect(twice == 1 && twiceOutput.contains("exists"), "\(twiceOutput)")
            let (disabled, disabledOutput) = try await hub(
                ["users", "disable"] + base + ["--email", "boss@example.com"])
            #expect(disabled == 0 && disabledOutput.contains("boss@example.com disabled"), "\(disabledOutput)")

            let store = try await PostgresHubStore.open(
                try PostgresStoreConfiguration(url: database), logger: .init(label: "t"))
            let user = try #require(try await store.user(email: "boss@example.com"))
            #expect(user.role == .operator && user.passwordHash.hasPrefix("$2b$12$") && user.disabled)
            _ = try await store.createAgent(id: "a-7", name: "Ravi")
            await store.shutdown()
            let (listed, list) = try await hub(["agents", "list"] + base)
            #expect(listed == 0 && list.contains("a-7\tRavi\t"), "\(list)")

            // A password in the URL is not repeated in messages.
            let refused = base.map { $0 == database ? database.replacingOccurrences(of: "/test_", with: "/none_") : $0 }
            let (missing, missingOutput) = try await hub(["migrate"] + refused)
            #expect(missing == 1 && !missingOutput.contains(server.password), "\(missingOutput)")
            #expect(missingOutput.contains("does not exist") && missingOutput.contains("***"), "\(missingOutput)")
        }
    }

    @Test func defaultsListsEveryKeyCommentedOut() async throws {
        let (status, output) = try await hub(["defaults"])
        #expect(status == 0)
        for key in HubConfiguration.keys {
            #expect(output.contains("#\(key.environmentName)=\(key.defaultValue)\n"), "\(key.name)")
        }
        #expect(output == HubConfiguration.defaultFile)
    }
}
