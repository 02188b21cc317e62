import DabbaTestSupport
import HubModel
@testable import HubPostgres
import Testing

/// A statement on a connection the server has closed fails at once with `unavailable` (``PostgresSession``), where
/// PostgresNIO's own `query` would wait forever; and so a transaction whose connection the server ends does not hang
/// in its `ROLLBACK`, the hang a PostgreSQL restart caused (issue 16).
@Suite struct PostgresSessionTests {
    @Test func aStatementOnAConnectionTheServerClosedFailsAtOnce() async throws {
        try await PostgresServer.with { server in
            let store = try await PostgresStoreTesting.open(server, database: try await server.createDatabase())
            defer { store.close() }
            let outcome = try await abandoningAfter {
                do {
                    try await store.run { session in
                        let pid = try #require(
                            try await session.scalar(Int32.self, "SELECT pg_backend_pid()", store.logger))
                        try await server.psql("SELECT pg_terminate_backend(\(pid))")
                        // The channel completes its close future after dropping its handlers: from now on a statement
                        // written to it is neither answered nor failed.
                        try await session.connection.closeFuture.get()
                        #expect(session.connection.isClosed)
                        try await session.query("SELECT 1", logger: store.logger)
                    }
                    return StoreError.Code?.none
                } catch let error as StoreError {
                    return error.code
                }
            }
            #expect(outcome == .some(.unavailable), "the statement after the close did not fail within the deadline")
        }
    }

    /// The server ends the transaction's own session mid-transaction: the statement fails, the `ROLLBACK` after it
    /// cannot be sent, and the transaction throws `unavailable` — in time, and the pool serves the next one.
    @Test func aTransactionWhoseSessionTheServerEndsFailsAndThePoolGoesOn() async throws {
        try await PostgresServer.with { server in
            let store = try await PostgresStoreTesting.open(server, database: try await server.createDatabase())
            defer { store.close() }
            for _ in 1...3 {
                let outcome = try await abandoningAfter {
                    do {
                        try await store.transaction { session in
                            try await session.query(
                                "SELECT pg_terminate_backend(pg_backend_pid())", logger: store.logger)
                        }
                        return StoreError.Code?.none
                    } catch let error as StoreError {
                        return error.code
                    }
                }
                #expect(outcome == .some(.unavailable), "the transaction did not fail within the deadline")
            }
            _ = try await store.createAgent(id: "after", name: nil)
            #expect(try await store.agents().map(\.id) == ["after"])
        }
    }
}
