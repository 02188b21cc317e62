import Foundation
import Testing

@testable import HubModel

/// Auth's byte helpers: base64url as RFC 4648 §5 defines it (checked against Foundation's base64 with the two
/// characters swapped and the padding dropped), and random bytes of the length asked for, drawn eight at a time.
struct AuthRandomTests {
    /// The reference: Foundation's base64, `+` → `-`, `/` → `_`, no `=`.
    static func reference(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @Test func base64URLMatchesTheReferenceAtEveryLengthAndRoundTrips() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            for _ in 0..<20 {
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let text = AuthRandom.base64URL(bytes)
                #expect(text == Self.reference(bytes), "\(bytes)")
                #expect(AuthRandom.fromBase64URL(text) == bytes)
            }
        }
        // Both substituted characters and the padding, at once: 0xFB 0xFF → "+/8=" in base64.
        #expect(AuthRandom.base64URL([0xFB, 0xFF]) == "-_8")
    }

    @Test func bytesHaveTheLengthAskedForAndEveryPositionVaries() {
        for count in [0, 1, 7, 8, 9, 12, 16, 32, 33] {
            #expect(AuthRandom.bytes(count).count == count)
        }
        // 200 draws of 12 bytes: each of the 12 positions (the last word's 4 included) takes many values (~139 of
        // 256 expected); one that filled only the low byte of each word would leave the others at 0.
        let draws = (0..<200).map { _ in AuthRandom.bytes(12) }
        for position in 0..<12 {
            #expect(Set(draws.map { $0[position] }).count > 100, "position \(position)")
        }
        #expect(Set(draws).count == 200)
        let token = AuthRandom.token(bytes: 12)
        #expect(token.count == 16 && token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }
}
