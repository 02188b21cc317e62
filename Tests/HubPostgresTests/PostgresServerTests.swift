import DabbaTestSupport
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// The test PostgreSQL harness (``PostgresServer``): a real server starts on a private port and directory, answers
/// queries in the databases a test creates, and leaves nothing behind — also when the test's body fails.
@Suite struct PostgresServerTests {
    @Test func startsAnswersQueriesAndLeavesNothingBehind() async throws {
        let server = try await PostgresServer.start()
        let (pid, port, directory) = (try #require(server.pid), server.port, server.directory.url.path)
        #expect(FileManager.default.fileExists(atPath: directory + "/data/PG_VERSION"))
        let database = try await server.createDatabase()
        try await Self.withClient(server, database: database) { client in
            let rows = try await client.query("SELECT current_database(), 6 * 7, current_setting('server_version_num')")
            var answered: [(String, Int, String)] = []
            for try await row in rows.decode((String, Int, String).self) { answered.append(row) }
            #expect(answered.count == 1)
            #expect(answered.first?.0 == database && answered.first?.1 == 42)
            #expect(answered.first.map { $0.2.hasPrefix("15") } == true)
        }
        await server.stop()
        #expect(!server.isRunning)
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the server process is gone")
        #expect(!FreePort.isListening(port))
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func aFailingTestStillStopsAndRemovesItsServer() async throws {
        struct Planned: Error {}
        let seen = Mutex<(pid: Int32, port: Int, directory: String)?>(nil)
        await #expect(throws: Planned.self) {
            try await PostgresServer.with { server in
                seen.withLock { $0 = (server.pid ?? 0, server.port, server.directory.url.path) }
                throw Planned()
            }
        }
        let (pid, port, directory) = try #require(seen.withLock { $0 })
        #expect(pid > 0 && kill(pid, 0) == -1 && errno == ESRCH)
        #expect(!FreePort.isListening(port))
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    /// Runs `body` with a PostgresNIO client of `database` on `server`, its run task ended afterwards.
    static func withClient(
        _ server: PostgresServer, database: String, _ body: (PostgresClient) async throws -> Void
    ) async throws {
        let configuration = PostgresClient.Configuration(
            host: server.host, port: server.port, username: server.user, password: server.password,
            database: database, tls: .disable)
        let client = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "test-postgres"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        try await body(client)
    }
}
