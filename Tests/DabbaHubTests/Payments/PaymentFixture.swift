import DabbaCore
import DabbaSQLite
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import Logging
import Testing

@testable import DabbaHub

/// Payments over one store: the service with the built-in test provider (or `card`, a ``FaultyPaymentProvider``
/// say), and a reactor that tests drain by hand. `clock` is the service's (backoffs and leases).
struct PaymentWorld {
    static let secret = "whsec_test_0123456789abcdef"
    let store: SQLiteHubStore
    /// Signs webhooks (the same secret as the card provider's).
    let provider = TestPaymentProvider(webhookSecret: PaymentWorld.secret)
    let service: PaymentService<SQLiteHubStore>
    let reactor: PaymentReactor<SQLiteHubStore>
    static let operatorCaller = Identity(userID: 999_999, role: .operator)

    init(
        store: SQLiteHubStore, cashLimit: Int64 = 1_000_000, card: (any PaymentProvider)? = nil,
        settings: PaymentSettings = PaymentSettings(), metrics: HubMetrics? = nil,
        clock: @escaping @Sendable () -> Int64 = { wallClockMilliseconds() }
    ) {
        self.store = store
        var logger = Logger(label: "payments-test")
        logger.logLevel = .critical
        service = PaymentService(
            store: store, providers: PaymentProviders([card ?? provider]), cashLimit: cashLimit, logger: logger,
            settings: settings, metrics: metrics, clock: clock)
        reactor = PaymentReactor(payments: service, bus: nil, pollInterval: .seconds(60), logger: logger)
    }

    /// A placed order straight in the store (customer `customer`, restaurant r-1 unless given).
    func order(
        _ id: String, customer: Int64, method: PaymentMethod, subtotal: Int64 = 50_000, fee: Int64 = 4_000,
        tax: Int64 = 2_700, restaurant: String = "r-1", currency: String = "INR"
    ) async throws -> OrderRecord {
        let now = wallClockMilliseconds()
        return try await store.createOrder(
            OrderRecord(
                id: id, customerID: customer, restaurantID: restaurant, paymentMethod: method, currency: currency,
                subtotal: subtotal, deliveryFee: fee, tax: tax, total: subtotal + fee + tax, address: "1 MG Road",
                dropLat: 12.98, dropLon: 77.6, zoneID: nil, createdAt: now, updatedAt: now, lines: []),
            idempotencyKey: nil, requestHash: nil, actor: "customer:\(customer)"
        ).order
    }

    /// Moves an order through `actions` as the system (no payment gate: the store's own transitions).
    func move(_ order: String, _ actions: [OrderAction], agent: String = "a-1", cash: Int64? = nil) async throws {
        for action in actions {
            _ = try await store.applyOrderChange(
                OrderChange(
                    action: action, actor: "system", reason: "test", agent: action == .assign ? agent : nil,
                    prepMinutes: action == .accept ? 10 : nil, cashCollected: action == .deliver ? cash : nil),
                to: order)
        }
    }

    /// A signed provider webhook for `event`, `age` seconds old.
    func webhook(_ event: ProviderEvent, age: Int64 = 0) -> (signature: String, body: [UInt8]) {
        provider.signedWebhook(event, timestamp: wallClockMilliseconds() / 1000 - age)
    }

    /// All entries (oldest first).
    func entries() async throws -> [LedgerEntry] { try await store.ledgerEntries(after: 0, limit: 1_000_000) }

    /// Entries of one payment, grouped by transaction kind, as (kind, side, account, amount) in order.
    func postings(_ payment: String) async throws -> [String] {
        try await entries().filter { $0.paymentID == payment }.map {
            "\($0.kind) \($0.side.rawValue) \($0.account) \($0.amount)"
        }
    }
}

/// Users, agents and a restaurant for payment tests; returns the customer ids.
func seedPaymentWorld(_ store: SQLiteHubStore, customers: Int = 2, agents: [String] = ["a-1", "a-2"]) async throws
    -> [Int64]
{
    for agent in agents { _ = try await store.createAgent(id: agent, name: agent) }
    var ids: [Int64] = []
    for i in 0..<customers {
        ids.append(
            try await store.createUser(
                email: "c\(i)@example.com", passwordHash: "x", name: "C\(i)", role: .customer, agentID: nil
            ).id)
    }
    return ids
}

/// The ledger's invariants, read with SQL over a database file: each transaction balanced and in one currency,
/// every account's totals equal to the sum of its entries, debits equal credits overall, refunds within captures,
/// each payment's ledger agreeing with its state. Returns the problems found (empty when sound).
enum LedgerAudit {
    static func problems(_ db: SQLiteConnection) throws -> [String] {
        var problems: [String] = []
        func rows(_ sql: String) throws -> [String] {
            let s = try db.prepare(sql)
            defer { s.reset() }
            var out: [String] = []
            while try s.step() { out.append(s.text(0) ?? "?") }
            return out
        }
        for t in try rows(
            """
            SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
            HAVING SUM(CASE side WHEN 'debit' THEN amount ELSE -amount END) != 0
            """)
        { problems.append("transaction \(t) is unbalanced") }
        for t in try rows(
            "SELECT id FROM ledger_transactions t WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.transaction_id = t.id)"
        ) {
            problems.append("transaction \(t) has no entries")
        }
        for t in try rows(
            "SELECT e.id FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id WHERE e.currency != t.currency"
        ) {
            problems.append("entry \(t) is in another currency than its transaction")
        }
        for a in try rows(
            """
            SELECT a.name || ' ' || a.currency FROM ledger_accounts a LEFT JOIN (
                SELECT account, currency, SUM(CASE side WHEN 'debit' THEN amount ELSE 0 END) AS d,
                    SUM(CASE side WHEN 'credit' THEN amount ELSE 0 END) AS c
                FROM ledger_entries GROUP BY account, currency) e ON e.account = a.name AND e.currency = a.currency
            WHERE a.debits != COALESCE(e.d, 0) OR a.credits != COALESCE(e.c, 0)
            """)
        { problems.append("account \(a) differs from its entries") }
        for a in try rows(
            "SELECT DISTINCT account FROM ledger_entries e WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.name = e.account AND a.currency = e.currency)"
        ) { problems.append("entries of \(a) have no account") }
        for c in try rows("SELECT currency FROM ledger_accounts GROUP BY currency HAVING SUM(debits) != SUM(credits)") {
            problems.append("debits differ from credits in \(c)")
        }
        for p in try rows("SELECT id FROM payments WHERE refunded + refund_pending > captured") {
            problems.append("payment \(p) refunded more than captured")
        }
        // Each payment's ledger agrees with its state (a half-applied capture would show here).
        for p in try rows(
            """
            SELECT p.id || ' ' || p.state FROM payments p WHERE p.method = 'card' AND (
                (SELECT COUNT(*) FROM ledger_transactions t WHERE t.payment_id = p.id AND t.kind = 'capture')
                    != (CASE WHEN p.state IN ('captured', 'partially_refunded', 'refunded') THEN 1 ELSE 0 END)
                OR (SELECT COUNT(*) FROM ledger_transactions t WHERE t.payment_id = p.id AND t.kind = 'authorize')
                    != (CASE WHEN p.state IN ('authorized', 'captured', 'partially_refunded', 'refunded') THEN 1
                        WHEN p.state = 'cancelled' THEN (SELECT COUNT(*) FROM ledger_transactions t
                            WHERE t.payment_id = p.id AND t.kind = 'void') ELSE 0 END)
                OR (SELECT COUNT(*) FROM ledger_transactions t WHERE t.payment_id = p.id AND t.kind = 'void')
                    > (CASE WHEN p.state = 'cancelled' THEN 1 ELSE 0 END)
                OR p.refunded != COALESCE((SELECT SUM(e.amount) FROM ledger_entries e JOIN ledger_transactions t
                    ON t.id = e.transaction_id WHERE t.payment_id = p.id AND t.kind = 'refund' AND e.side = 'debit'), 0))
            """)
        { problems.append("payment \(p) disagrees with its ledger") }
        return problems
    }

    /// The same over the file at `path` (another connection, as an operator's tool would read it).
    static func problems(path: String) throws -> [String] {
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA busy_timeout = 5000")
        return try problems(db)
    }
}
