#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Random tokens, hashes and base64url: the few byte helpers auth needs, in one place.
package enum AuthRandom {
    /// `count` bytes from the system's CSPRNG.
    package static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// A URL-safe random token of `bytes` random bytes (refresh tokens, tickets, request ids).
    package static func token(bytes count: Int) -> String { base64URL(bytes(count)) }

    /// Lower-case hex of `bytes` (digests, MACs).
    package static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Base64url without padding (RFC 4648 §5).
    package static func base64URL(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = String(text.compactMap { c -> Character? in c == "+" ? "-" : c == "/" ? "_" : c == "=" ? nil : c })
        return text
    }

    /// Decodes base64url with or without padding; nil when malformed.
    package static func fromBase64URL(_ text: some StringProtocol) -> [UInt8]? {
        var s = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        guard !s.contains("=") else { return nil }
        while s.utf8.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map(Array.init)
    }
}
