#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Random tokens, hashes and base64url: the few byte helpers auth needs, in one place.
package enum AuthRandom {
    /// `count` bytes from the system's CSPRNG, eight per draw (`UInt8.random(in:using:)` drew a whole 64-bit word,
    /// a `getrandom` call, for every byte: 12 calls for each request id, ~6 % of the hub's CPU under `wrk`).
    package static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            var word: UInt64 = generator.next()
            for _ in 0..<min(8, count - bytes.count) {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return bytes
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
        let base64 = Data(bytes).base64EncodedString()
        var url: [UInt8] = []
        url.reserveCapacity(base64.utf8.count)
        for byte in base64.utf8 {
            switch byte {
            case UInt8(ascii: "+"): url.append(UInt8(ascii: "-"))
            case UInt8(ascii: "/"): url.append(UInt8(ascii: "_"))
            case UInt8(ascii: "="): continue
            default: url.append(byte)
            }
        }
        return String(decoding: url, as: UTF8.self)
    }

    /// Decodes base64url with or without padding; nil when malformed.
    package static func fromBase64URL(_ text: some StringProtocol) -> [UInt8]? {
        var s = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        guard !s.contains("=") else { return nil }
        while s.utf8.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map(Array.init)
    }
}
