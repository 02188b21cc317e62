import DabbaSQLite
import DabbaTestSupport
import Testing

@testable import HubSQLite

/// Reads every dispatch round makes, checked against SQLite's query plan: the index they were given is the one the
/// planner takes (a partial index is only used when the query repeats its WHERE).
@Suite struct SQLiteHubStoreQueryPlanTests {
    static func plan(_ path: String, _ sql: String) throws -> String {
        let db = try SQLiteConnection(path: path, readOnly: true)
        let s = try db.prepare("EXPLAIN QUERY PLAN " + sql)
        defer { s.reset() }
        var details: [String] = []
        while try s.step() { details.append(s.text(3) ?? "") }
        return details.joined(separator: "\n")
    }

    /// Without `offers_excluding` the read visited every offer its orders ever had (BENCHMARKS.md: a round's
    /// offers slowed by a third over 30 rounds of withdrawn offers).
    @Test func theRoundsExclusionsReadOnlyTheExcludingOffers() async throws {
        let directory = try TestDirectory("hub-sqlite-plan")
        defer { directory.remove() }
        let path = directory.path("hub.db")
        let store = try await SQLiteHubStoreRecoveryTests.open(path)
        store.close()
        let plan = try await offPool { try Self.plan(path, SQLiteHubStore.exclusionsQuery) }
        #expect(plan.contains("INDEX offers_excluding (order_id=?)"), "\(plan)")
    }
}
