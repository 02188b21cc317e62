import DabbaCore
import DabbaSQLite
import DabbaTestSupport
import Foundation
@testable import HubSQLite
import Logging
import Testing

@testable import DabbaHub

/// The real `dabba-hub serve`, SIGKILLed while its payment reactor captures delivered orders: after every kill the
/// ledger holds each capture whole or not at all, and after a restart the rest is captured exactly once.
@Suite(.serialized) struct PaymentCrashTests {
    static let orders = 600

    /// Captured payments, read through a connection of its own (the kill's polling thread calls it).
    static func captured(_ database: String) throws -> Int {
        let reader = try SQLiteConnection(path: database, readOnly: true)
        try reader.execute("PRAGMA busy_timeout = 5000")
        return Int(try reader.scalarInt("SELECT COUNT(*) FROM payments WHERE state = 'captured'") ?? 0)
    }

    @Test func hubKilledDuringCapturesLeavesNoHalfMovement() async throws {
        let directory = try TestDirectory("payments-crash")
        defer { directory.remove() }
        let database = directory.path("hub.db")
        // Delivered card orders with authorized payments, written before any hub runs (the reactor's cursor starts
        // before them, so the hub captures them all when it starts).
        do {
            var logger = Logger(label: "setup")
            logger.logLevel = .critical
            let store = try SQLiteHubStore(path: database, logger: logger)
            let world = PaymentWorld(store: store)
            let customers = try await seedPaymentWorld(store, customers: 1, agents: ["a-1"])
            let me = Identity(userID: customers[0], role: .customer)
            for i in 0..<Self.orders {
                _ = try await world.order("o-\(i)", customer: customers[0], method: .card, subtotal: Int64(1_000 + i))
                _ = try await world.service.authorize(order: "o-\(i)", cardNumber: TestPaymentProvider.succeeds, by: me)
                try await world.move("o-\(i)", [.accept, .assign, .pickup, .deliver])
            }
            store.close()
        }
        let reader = try SQLiteConnection(path: database, readOnly: true)
        try reader.execute("PRAGMA busy_timeout = 5000")
        func captured() throws -> Int {
            Int(try reader.scalarInt("SELECT COUNT(*) FROM payments WHERE state = 'captured'") ?? 0)
        }
        let port = FreePort.next()
        func start() throws -> ManagedProcess {
            try ManagedProcess(
                name: "hub", executable: try BuiltProducts.path(of: "dabba-hub"),
                arguments: [
                    "serve", "--config", "/dev/null", "--database", "sqlite:\(database)", "--mqtt-port",
                    "\(FreePort.next())", "--http-port", "\(port)", "--log-level", "warning", "--payment-provider",
                    "test",
                    // A capture the killed hub had claimed is free again after its lease (3 × this + 1 s).
                    "--payment-provider-timeout", "1",
                ], logDirectory: directory.url)
        }

        var midway = 0
        for round in 1...5 {
            let before = try captured()
            let hub = try start()
            // Kill as soon as this run has captured something more: in the middle of the stream of captures.
            let progressed = await hub.kill9(when: { (try? Self.captured(database)) ?? 0 > before })
            let after = try captured()
            if progressed && after < Self.orders { midway += 1 }
            let problems = try LedgerAudit.problems(path: database)
            #expect(problems == [], "after kill \(round): \(problems.prefix(5))\n\(hub.output().suffix(2000))")
            if after == Self.orders { break }
        }
        #expect(midway > 0, "no kill landed while captures were running")

        // A last run finishes the captures; each order is captured exactly once.
        let hub = try start()
        defer { hub.stop() }
        let finished = await eventually(timeout: .seconds(60), interval: .milliseconds(100)) {
            (try? captured()) == Self.orders
        }
        #expect(finished, "\(hub.output().suffix(3000))")
        hub.stop()
        #expect(try LedgerAudit.problems(path: database) == [])
        let captures = try reader.scalarInt("SELECT COUNT(*) FROM ledger_transactions WHERE kind = 'capture'")
        #expect(captures == Int64(Self.orders))
        let clearing = try reader.scalarInt(
            "SELECT debits - credits FROM ledger_accounts WHERE name = 'provider:test:clearing' AND currency = 'INR'")
        let expected = try reader.scalarInt("SELECT SUM(total) FROM orders")
        #expect(clearing == expected)
    }
}
