import DabbaCore
import DabbaProtocol
import Foundation
import HubModel
import Logging
import PostgresNIO

/// The server store: a PostgreSQL database (15 or later) shared by any number of hubs, through PostgresNIO's
/// connection pool (`PostgresClient`).
///
/// Lifecycle: the store owns the pool's background task. ``open(_:logger:)`` starts `PostgresClient.run()` in a task
/// of the store's, applies pending migrations (``HubPostgresMigrations``) and returns the store; ``shutdown()`` (or
/// ``close()``, which does not wait) cancels that task, which closes every connection. The store, not a
/// `ServiceGroup`, owns it because the admin commands (`dabba-hub migrate`, `users`, `agents`) and the contract tests
/// use a store with no service group around them, and `serve` needs the store (its migrations applied) before the
/// group starts.
///
/// Isolation: each repository method says which level it runs at and why. The rule matches what the SQLite store
/// gives (SQLite serialises writers): a write that depends on what it read either is one conditional statement
/// (PostgreSQL re-checks an `UPDATE`'s or `DELETE`'s `WHERE` on the newest row version after waiting for the row
/// lock, and `INSERT … ON CONFLICT` waits for a concurrent insert of the same key), or runs in a READ COMMITTED
/// transaction that first locks the rows it decides on (`SELECT … FOR UPDATE`). Deadlocks (40P01) and
/// serialization failures (40001) are retried a few times, whole transaction at a time (``transaction(_:)``).
/// Appends to the logs read by cursor — the order trail and the ledger — take a transaction-scoped advisory lock
/// first, so their ids become visible in increasing order as under SQLite's single writer, and a reader that moved
/// past an id never misses a lower one committed later (``insertOrderEvent(_:on:)``, ``post(_:now:on:)``).
///
/// Errors: PostgresNIO's and the pool's errors become ``StoreError`` once, in ``run(_:)`` and ``transaction(_:)``
/// (``StoreError/init(postgres:)``).
///
/// Owns: the PostgreSQL backend and its migrations. May import `HubModel`, `DabbaCore`, `DabbaProtocol`, `Logging`
/// and PostgresNIO; no feature module imports it (only `DabbaHubServer` and the tests).
package final class PostgresHubStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// The operations in flight, for the "Database operation stalled" warning.
    let stalls: StalledOperations
    /// Agents' states as last decoded (dispatch reads them all every round).
    let states = AgentStateMemo()
    private let runner: Task<Void, Never>

    private init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        let stalls = StalledOperations(logger: logger)
        self.stalls = stalls
        runner = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await stalls.watch() }
                await client.run()
                group.cancelAll()
            }
        }
    }

    /// Connects to the database `configuration` names and applies pending migrations. Throws `unavailable` when the
    /// server cannot be reached, and closes the pool again on any failure.
    package static func open(_ configuration: PostgresStoreConfiguration, logger: Logger) async throws(StoreError)
        -> PostgresHubStore
    {
        try await probe(configuration, logger: logger)
        let store = PostgresHubStore(
            client: PostgresClient(configuration: configuration.client, backgroundLogger: logger), logger: logger)
        do {
            try await HubPostgresMigrations.apply(to: store)
        } catch {
            await store.shutdown()
            throw error
        }
        return store
    }

    /// Opens one connection outside the pool and closes it. The pool retries a connection that fails for up to a
    /// minute before it fails the request waiting for it, so `open` checks first and fails at once with the server's
    /// own answer (nothing listening: `unavailable`; an unknown database or a wrong password: `other`, with
    /// PostgreSQL's message).
    static func probe(_ configuration: PostgresStoreConfiguration, logger: Logger) async throws(StoreError) {
        do {
            let connection = try await PostgresConnection.connect(
                on: PostgresClient.defaultEventLoopGroup.any(), configuration: try configuration.connection(), id: 0,
                logger: logger
            ).get()
            try await connection.close()
        } catch {
            throw StoreError(postgres: error)
        }
    }

    /// The highest migration version applied.
    package func schemaVersion() async throws(StoreError) -> Int {
        try await appliedMigrations().map(\.version).max() ?? 0
    }

    /// Closes the pool (cancels its task) without waiting for it.
    package func close() { runner.cancel() }

    /// Closes the pool and waits until its connections are closed.
    package func shutdown() async {
        runner.cancel()
        await runner.value
    }

    /// Runs statements outside an explicit transaction (each in its own), on a connection of the pool, converting
    /// errors once. A ``StoreError`` thrown by `body` passes through as it is.
    @discardableResult
    func run<T: Sendable>(operation: String = #function, _ body: (PostgresSession) async throws -> T)
        async throws(StoreError) -> T
    {
        let token = stalls.begin(operation)
        defer { stalls.end(token) }
        do {
            return try await withSession(token: token, body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(postgres: error)
        }
    }

    /// Leases a connection of the pool for `body` (noting it for the stall report under `token`), and leases again,
    /// at most ``leaseAttempts`` times in all, when the pool hands out one that is already closed. Errors pass through
    /// unconverted.
    private func withSession<T: Sendable>(token: Int, _ body: (PostgresSession) async throws -> T) async throws -> T {
        var leases = 1
        while true {
            do {
                return try await client.withConnection { connection in
                    guard !connection.isClosed else { throw ClosedLease(connection: connection) }
                    stalls.leased(token, connection: connection.id)
                    return try await body(PostgresSession(connection: connection))
                }
            } catch let closed as ClosedLease {
                guard leases < Self.leaseAttempts else { throw ClosedLease.error }
                await closed.settle(attempt: leases)
                leases += 1
            }
        }
    }

    /// Thrown inside a lease when the pool hands out a connection that is already closed (the server went away and
    /// the pool has not noticed yet): nothing was sent on it, so the operation leases again, at most
    /// ``leaseAttempts`` times in all.
    struct ClosedLease: Error {
        let connection: PostgresConnection

        static let error = StoreError(
            .unavailable, "PostgreSQL: the pool's connections were closed (the server went away)")

        /// Before leasing again: waits until the channel has finished closing (which is what tells the pool to drop
        /// the connection), then a short pause growing with `attempt` (20, 40 ms) for the pool to have done so.
        func settle(attempt: Int) async {
            _ = try? await connection.closeFuture.get()
            try? await Task.sleep(for: .milliseconds(20 * attempt))
        }
    }

    /// How many connections an operation leases before it gives up on closed ones.
    static let leaseAttempts = 3

    /// The level a transaction runs at (see the type's documentation for when each applies).
    enum Isolation: String {
        /// Each statement sees what was committed before it began; rows decided on are locked first.
        case readCommitted = "READ COMMITTED"
        /// One snapshot for every statement: for reads that must agree with each other (a menu and its restaurant);
        /// read-only, so it never fails to serialise.
        case repeatableRead = "REPEATABLE READ"
        /// The transaction behaves as if alone; PostgreSQL aborts it (40001) rather than let it see a non-serial
        /// interleaving, and it is retried.
        case serializable = "SERIALIZABLE"
    }

    /// How many times a transaction that hit a deadlock or a serialization failure runs in all.
    static let transactionAttempts = 5

    /// Runs `body` in one transaction at `isolation` on a connection of the pool: committed when it returns, rolled
    /// back when it throws. A deadlock (40P01) or serialization failure (40001) rolls back and runs `body` again, at
    /// most ``transactionAttempts`` times in all, so `body` must build its result afresh each time. Errors are
    /// converted once; a ``StoreError`` thrown by `body` passes through.
    @discardableResult
    func transaction<T: Sendable>(
        _ isolation: Isolation = .readCommitted, operation: String = #function,
        _ body: (PostgresSession) async throws -> T
    ) async throws(StoreError) -> T {
        let token = stalls.begin(operation)
        defer { stalls.end(token) }
        var attempt = 1
        while true {
            do {
                return try await withSession(token: token) { connection in
                    try await connection.query("BEGIN ISOLATION LEVEL \(unescaped: isolation.rawValue)", logger: logger)
                    do {
                        let result = try await body(connection)
                        try await connection.query("COMMIT", logger: logger)
                        return result
                    } catch {
                        do {
                            try await connection.query("ROLLBACK", logger: logger)
                        } catch let rollback {
                            // The connection is broken (the pool drops it; the server rolls back when the session
                            // ends); the first error is the one to report.
                            logger.warning(
                                "Rollback failed", metadata: ["db.error": "\(StoreError(postgres: rollback).message)"])
                        }
                        throw error
                    }
                }
            } catch let error as StoreError {
                throw error
            } catch {
                let converted = StoreError(postgres: error)
                guard Self.isRetryable(error), attempt < Self.transactionAttempts else { throw converted }
                logger.debug(
                    "Transaction retried",
                    metadata: ["db.attempt": "\(attempt)", "db.sqlstate": "\(Self.sqlState(error) ?? "")"])
                attempt += 1
            }
        }
    }

    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    static func isRetryable(_ error: any Error) -> Bool {
        switch sqlState(error) {
        case "40001", "40P01": true
        default: false
        }
    }
}

/// Every repository: the hub serves from this store as from SQLite's.
extension PostgresHubStore: HubStore {}

extension StoreError {
    /// The one place PostgreSQL's and the pool's errors become store errors (by SQLSTATE class for the server's).
    init(postgres error: any Error) {
        if let error = error as? PSQLError {
            guard let info = error.serverInfo, let state = info[.sqlState] else {
                // No answer from a server: the connection failed, closed, or the pool is shut down.
                self.init(.unavailable, "PostgreSQL: \(error.code)")
                return
            }
            let message = "PostgreSQL \(state): \(info[.message] ?? "")"
            switch state {
            // Integrity constraints (unique, foreign key, check, not null, exclusion), as SQLite's `constraint`.
            case _ where state.hasPrefix("23"): self.init(.conflict, message)
            case "53100": self.init(.full, message)
            case "XX001", "XX002": self.init(.corrupt, message)
            // Connection exceptions, insufficient resources, operator intervention (shutdown, cannot connect now),
            // and serialization failures or deadlocks that outlived their retries.
            case _ where state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57"):
                self.init(.unavailable, message)
            case "40001", "40P01": self.init(.unavailable, message)
            default: self.init(.other, message)
            }
        } else if error is PostgresDecodingError {
            self.init(.corrupt, "PostgreSQL: a column did not decode as expected: \(String(reflecting: error))")
        } else {
            // The pool's own errors (it could not open a connection, it is shut down, the request was cancelled).
            self.init(.unavailable, "PostgreSQL: \(error)")
        }
    }
}

/// A connection of the pool as the store's operations use it (``PostgresHubStore/run(operation:_:)`` and
/// ``PostgresHubStore/transaction(_:operation:_:)`` hand one to their body).
///
/// Every statement first checks that the connection is still open and throws `unavailable` when it is not.
/// PostgresNIO 1.33 writes a statement to its channel without a promise, so a statement written after the server
/// closed the connection — once the channel has dropped its handlers — is never answered nor failed, and its caller
/// waits forever. That happened after a PostgreSQL restart (issue 16): a transaction whose statement failed when the
/// server went down sent its `ROLLBACK` on the dead connection, hung holding the connection, and with it the hub's
/// group commit, so the hub never acked again. `PostgresSessionTests` closes a connection under a session and
/// checks that the next statement fails at once.
struct PostgresSession: Sendable {
    let connection: PostgresConnection

    /// The pool's id for the connection.
    var id: Int { connection.id }

    /// Runs `query`; throws `unavailable` without sending it when the connection is closed.
    @discardableResult
    func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        guard !connection.isClosed else {
            throw StoreError(.unavailable, "PostgreSQL: the connection was closed (the server went away)")
        }
        return try await connection.query(query, logger: logger)
    }

    /// Runs `query` and returns every row it answered (so errors raised while rows stream are thrown here too).
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }

    /// Runs `query`, which answers one row of one column (a `count(*)`, a `RETURNING` of one row), and decodes it;
    /// nil when it answered no row.
    func scalar<T: PostgresDecodable>(_ type: T.Type, _ query: PostgresQuery, _ logger: Logger) async throws -> T? {
        guard let row = try await rows(query, logger).first else { return nil }
        return try row.decode(T.self)
    }
}

/// `BYTEA` values: bound and read as `ByteBuffer` (an `[UInt8]` would bind as an array of `"char"`).
enum Bytea {
    static func bind(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
    static func read(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }
}
