import DabbaCore
@testable import HubModel
import Testing

@testable import DabbaHub

/// Untrusted numbers on the money and signature paths: refused with an error, never a trap.
@Suite struct CheckedMoneyTests {
    @Test func aSignatureTimestampAtEitherEndOfInt64IsOutOfTolerance() {
        for t in ["-9223372036854775808", "9223372036854775807", "-1"] {
            #expect(throws: WebhookError.self, "t=\(t)") {
                try WebhookSignature.verify(
                    header: "t=\(t),v1=00", body: [], secret: "s", now: 1_795_082_400, tolerance: 300)
            }
        }
        let now: Int64 = 1_795_082_400
        let header = WebhookSignature.sign(body: Array("{}".utf8), secret: "s", timestamp: now - 10)
        #expect(throws: Never.self) {
            try WebhookSignature.verify(header: header, body: Array("{}".utf8), secret: "s", now: now)
        }
    }

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
