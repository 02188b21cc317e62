#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address, parsed and printed with `inet_pton` / `inet_ntop`. An IPv4-mapped
/// IPv6 address (`::ffff:a.b.c.d`) is read as the IPv4 address it carries, so every check sees one form.
package struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    package let bytes: [UInt8]

    package var isIPv4: Bool { bytes.count == 4 }

    /// From 4 or 16 bytes; nil for any other count.
    package init?(bytes: [UInt8]) {
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            self.bytes = Array(bytes[12...])
        } else if bytes.count == 4 || bytes.count == 16 {
            self.bytes = bytes
        } else {
            return nil
        }
    }

    /// A literal address (`192.0.2.1`, `2001:db8::1`, also `[2001:db8::1]`); nil for anything else (names, and
    /// the short or numeric IPv4 forms `inet_aton` would take, which `inet_pton` refuses).
    package init?(_ text: String) {
        var literal = Substring(text)
        if literal.first == "[" && literal.last == "]" { literal = literal.dropFirst().dropLast() }
        guard !literal.isEmpty, literal.utf8.count <= 64, !literal.contains("%") else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(literal), &v4) == 1 {
            self.init(bytes: withUnsafeBytes(of: &v4) { Array($0) })
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(literal), &v6) == 1 else { return nil }
        self.init(bytes: withUnsafeBytes(of: &v6) { Array($0) })
    }

    package var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let printed = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        guard printed != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The first `bits` bits, the rest zero (an IPv6 client is keyed by its /64: one subscriber's whole block).
    func prefix(_ bits: Int) -> IPAddress {
        var masked = bytes
        for i in 0..<masked.count {
            let keep = max(0, min(8, bits - i * 8))
            masked[i] &= keep == 0 ? 0 : ~UInt8(0) << (8 - keep)
        }
        return IPAddress(bytes: masked) ?? self
    }
}

/// An address range in CIDR form (`10.0.0.0/8`, `fc00::/7`), or one address (`127.0.0.1`: /32 or /128).
package struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    package let base: IPAddress
    package let bits: Int

    package init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let width = address.bytes.count * 8
        var bits = width
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...width).contains(given) else { return nil }
            bits = given
        }
        self.init(address, bits: bits)
    }

    init(_ address: IPAddress, bits: Int) {
        self.base = address.prefix(bits)
        self.bits = bits
    }

    package func contains(_ address: IPAddress) -> Bool {
        address.bytes.count == base.bytes.count && address.prefix(bits) == base
    }

    package var description: String { "\(base)/\(bits)" }
}
