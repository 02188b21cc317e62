import Testing

@testable import HubModel

/// Untrusted amounts on the money path: a posting whose amounts are impossible or whose totals overflow is refused
/// with a `StoreError`, never a trap.
struct LedgerTests {
    @Test func aPostingWithAnImpossibleOrOverflowingAmountIsRefused() {
        func posting(_ legs: [LedgerLeg]) -> LedgerPosting {
            LedgerPosting(kind: "cod_collect", orderID: "o-1", currency: "INR", actor: "agent:a-1", legs: legs)
        }
        let huge = posting([LedgerLeg(.debit, "agent:a-1:cash", .max), LedgerLeg(.credit, "customer:1", .max)])
        #expect(throws: StoreError.self) { try huge.validate() }
        let overflowing = posting([
            LedgerLeg(.debit, "a", .max / 2 + 1), LedgerLeg(.debit, "b", .max / 2 + 1), LedgerLeg(.credit, "c", 1),
        ])
        #expect(overflowing.debits == nil, "the debit total does not fit in Int64")
        #expect(throws: StoreError.self) { try overflowing.validate() }
        let fine = posting([LedgerLeg(.debit, "a", Money.maxAmount), LedgerLeg(.credit, "b", Money.maxAmount)])
        #expect(throws: Never.self) { try fine.validate() }
    }
}
