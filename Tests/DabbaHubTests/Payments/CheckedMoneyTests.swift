import DabbaCore
import HubModel
import Testing

@testable import DabbaHub

/// Untrusted numbers on the signature path: refused with an error, never a trap (postings: `HubModelTests.LedgerTests`).
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
}
