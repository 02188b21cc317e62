import DabbaTestSupport
import HubModel
import HubPostgres
import Testing

/// `HubPostgresMigrations` on a real server: a fresh database reaches the latest version, opening again applies
/// nothing, and hubs opening one fresh database together apply each migration once.
@Suite struct HubPostgresMigrationTests {
    @Test func aFreshDatabaseReachesTheLatestVersionAndReopeningIsANoOp() async throws {
        try await PostgresServer.with { server in
            let database = try await server.createDatabase()
            let first = try await PostgresStoreTesting.open(server, database: database)
            let applied = try await first.appliedMigrations()
            #expect(applied.map(\.version) == Array(1...PostgresHubStore.latestSchemaVersion))
            #expect(try await first.schemaVersion() == PostgresHubStore.latestSchemaVersion)
            // The tables are there and empty.
            #expect(try await first.agents().isEmpty)
            #expect(try await first.user(email: "nobody@example.com") == nil)
            _ = try await first.createAgent(id: "a-1", name: "Kept")
            await first.shutdown()

            let again = try await PostgresStoreTesting.open(server, database: database)
            #expect(try await again.appliedMigrations() == applied, "nothing applied twice, no record rewritten")
            #expect(try await again.agent(id: "a-1")?.name == "Kept")
            await again.shutdown()
        }
    }

    @Test func hubsOpeningOneFreshDatabaseTogetherApplyEachMigrationOnce() async throws {
        try await PostgresServer.with { server in
            let database = try await server.createDatabase()
            async let a = PostgresStoreTesting.open(server, database: database)
            async let b = PostgresStoreTesting.open(server, database: database)
            async let c = PostgresStoreTesting.open(server, database: database)
            let stores = try await [a, b, c]
            for store in stores {
                #expect(
                    try await store.appliedMigrations().map(\.version)
                        == Array(1...PostgresHubStore.latestSchemaVersion))
            }
            for store in stores { await store.shutdown() }
        }
    }

    @Test func openingFailsAtOnceWithTheServersAnswer() async throws {
        /// The code `open` fails with, or nil when it opened.
        func failure(_ url: String) async throws -> StoreError? {
            do {
                let store = try await PostgresHubStore.open(
                    try PostgresStoreConfiguration(url: url), logger: PostgresStoreTesting.quiet)
                await store.shutdown()
                return nil
            } catch {
                return error
            }
        }
        let nowhere = try await failure("postgres://dabba@127.0.0.1:\(FreePort.next())/x?sslmode=disable")
        #expect(nowhere?.code == .unavailable, "\(String(describing: nowhere))")
        try await PostgresServer.with { server in
            let unknown = try await failure(server.url(database: "absent") + "?sslmode=disable")
            #expect(
                unknown?.code == .other && unknown?.message.contains("3D000") == true, "\(String(describing: unknown))")
            let database = try await server.createDatabase()
            let wrong = server.url(database: database).replacingOccurrences(of: server.password, with: "wrong")
            let refused = try await failure(wrong + "?sslmode=disable")
            #expect(
                refused?.code == .other && refused?.message.contains("28P01") == true, "\(String(describing: refused))")
        }
    }

    @Test func theDatabaseURLIsReadWithItsDefaultsAndRefusedWhenUnusable() throws {
        let full = try PostgresStoreConfiguration(
            url: "postgres://hub:p%40ss@db.example:6543/dabba?sslmode=require&pool_max=40&application_name=hub-2")
        #expect(full.host == "db.example" && full.port == 6543 && full.user == "hub" && full.password == "p@ss")
        #expect(full.database == "dabba" && full.tls == .require && full.maximumConnections == 40)
        #expect(full.applicationName == "hub-2")
        let short = try PostgresStoreConfiguration(url: "postgresql://hub@127.0.0.1")
        #expect(short.port == 5432 && short.database == "hub" && short.password == nil && short.tls == .prefer)
        #expect(short.maximumConnections == 20 && short.applicationName == "dabba-hub")
        for bad in [
            "sqlite:/tmp/hub.db", "postgres:///dabba", "postgres://127.0.0.1/dabba",
            "postgres://hub@127.0.0.1/dabba?sslmode=verify-full", "postgres://hub@127.0.0.1/dabba?pool_max=0",
            "postgres://hub@127.0.0.1/dabba?pool=3", "postgres://hub@127.0.0.1/dabba?application_name=",
            "postgres://hub@127.0.0.1/dabba?application_name=\(String(repeating: "h", count: 64))",
        ] {
            #expect(throws: StoreError.self, "\(bad)") { try PostgresStoreConfiguration(url: bad) }
        }
    }
}
