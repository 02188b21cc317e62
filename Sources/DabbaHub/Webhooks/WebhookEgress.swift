import HubModel
import NIOPosix

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where webhooks may go. A webhook URL is a request the hub makes on a customer's behalf, so it must not reach
/// what only the hub can reach: a destination resolving to a loopback, private (RFC 1918, IPv6 ULA), link-local
/// (including the cloud metadata address 169.254.169.254), multicast or otherwise special-purpose address is
/// refused — at registration and again at every attempt — unless `webhook-allow-hosts` names its host, its address
/// or a range holding it.
///
/// Each attempt resolves the host once (``destination(of:)``), checks every address it got (one refused address
/// refuses the attempt: a name that mixes public and private addresses is not trusted), and connects to the
/// first, the checked one: the HTTP client is told to use that address for the host (no second lookup, so a DNS
/// answer that changes in between — rebinding — cannot redirect the request), while the `Host` header, TLS SNI and
/// certificate checks still use the URL's host.
package struct WebhookEgress: Sendable {
    /// Hosts, addresses and ranges allowed to resolve to otherwise refused addresses.
    package struct AllowList: Sendable, Equatable {
        /// Host names as written in URLs, lower case.
        package var hosts: Set<String>
        package var networks: [IPNetwork]

        /// Comma-separated host names, addresses and CIDR ranges; nil when an entry is none of them.
        package init?(_ text: String) {
            hosts = []
            networks = []
            for entry in text.split(separator: ",") {
                let item = String(entry).trimmingSpaces.lowercased()
                if item.isEmpty { continue }
                if let network = IPNetwork(item) {
                    networks.append(network)
                } else if WebhookEgress.isHostName(item) {
                    hosts.insert(item)
                } else {
                    return nil
                }
            }
        }

        package var isEmpty: Bool { hosts.isEmpty && networks.isEmpty }

        func allows(host: String, address: IPAddress) -> Bool {
            hosts.contains(host.lowercased()) || networks.contains { $0.contains(address) }
        }
    }

    /// Where one attempt goes: the URL's host and the address it resolved to (the one connected to).
    package struct Destination: Sendable, Equatable {
        /// The host as the URL names it (brackets of an IPv6 literal removed).
        package var host: String
        package var address: IPAddress
    }

    package let allow: AllowList
    /// Resolves a host name to its addresses (getaddrinfo off the event loops; tests may replace it).
    let resolve: @Sendable (String) async throws -> [IPAddress]

    package init(allow: AllowList, resolve: (@Sendable (String) async throws -> [IPAddress])? = nil) {
        self.allow = allow
        self.resolve = resolve ?? WebhookEgress.systemResolve
    }

    /// Resolves `url`'s host once and checks every address: the destination to connect to, or a
    /// ``WebhookError`` (`forbiddenDestination`, `unresolvable` or `invalidURL`) saying why not. The message names
    /// the kind of address, not the address.
    package func destination(of url: String) async throws(WebhookError) -> Destination {
        guard let host = URL(string: url)?.host, !host.isEmpty else {
            throw WebhookError(.invalidURL, "url: expected an absolute http:// or https:// URL")
        }
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let addresses: [IPAddress]
        if let literal = IPAddress(name) {
            addresses = [literal]
        } else {
            do {
                addresses = try await resolve(name)
            } catch {
                throw WebhookError(.unresolvable, "\(name) does not resolve")
            }
        }
        guard let first = addresses.first else { throw WebhookError(.unresolvable, "\(name) does not resolve") }
        for address in addresses {
            if let kind = Self.restriction(address), !allow.allows(host: name, address: address) {
                throw WebhookError(
                    .forbiddenDestination,
                    "\(name) resolves to a \(kind) address; webhooks may not go there unless webhook-allow-hosts names it"
                )
            }
        }
        return Destination(host: name, address: first)
    }

    /// The kind of a special-purpose address webhooks may not reach by default, or nil for an ordinary (global)
    /// one: IPv4 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.168/16, 198.18/15, 224/4
    /// (multicast), 240/4 and the broadcast address; IPv6 ::, ::1, fc00::/7, fe80::/10, fec0::/10, ff00::/8, and
    /// the IPv4 address inside NAT64 (64:ff9b::/96) and 6to4 (2002::/16) ones.
    package static func restriction(_ address: IPAddress) -> String? {
        let b = address.bytes
        if address.isIPv4 {
            switch (b[0], b[1]) {
            case (0, _): return "unspecified"
            case (10, _), (172, 16...31), (192, 168): return "private"
            case (100, 64...127): return "shared (carrier-grade NAT)"
            case (127, _): return "loopback"
            case (169, 254): return "link-local"
            case (192, 0) where b[2] == 0: return "reserved"
            case (198, 18...19): return "reserved"
            case (224...239, _): return "multicast"
            case (240...255, _): return b == [255, 255, 255, 255] ? "broadcast" : "reserved"
            default: return nil
            }
        }
        if b.allSatisfy({ $0 == 0 }) { return "unspecified" }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "loopback" }
        if b[0] & 0xFE == 0xFC { return "private" }
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return "link-local" }
        if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return "private" }  // site-local (deprecated)
        if b[0] == 0xFF { return "multicast" }
        if b[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0], let v4 = IPAddress(bytes: Array(b[12...])) {
            return restriction(v4)
        }
        if b[0] == 0x20 && b[1] == 0x02, let v4 = IPAddress(bytes: Array(b[2..<6])) { return restriction(v4) }
        return nil
    }

    /// Letters, digits, `-` and `.`, 1–253 characters: a host name as an allow-list entry.
    static func isHostName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 253
            && text.utf8.allSatisfy { c in
                (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2E
            }
    }

    /// `getaddrinfo` on NIO's blocking pool: the host's IPv4 and IPv6 addresses in the system's order.
    @Sendable static func systemResolve(_ host: String) async throws -> [IPAddress] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &list) == 0, let list else { throw WebhookError(.unresolvable, host) }
            defer { freeaddrinfo(list) }
            var addresses: [IPAddress] = []
            var next: UnsafeMutablePointer<addrinfo>? = list
            while let info = next {
                if let sockaddr = info.pointee.ai_addr {
                    switch Int32(info.pointee.ai_family) {
                    case AF_INET:
                        var v4 = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                        if let address = IPAddress(bytes: withUnsafeBytes(of: &v4) { Array($0) }) {
                            addresses.append(address)
                        }
                    case AF_INET6:
                        var v6 = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                        if let address = IPAddress(bytes: withUnsafeBytes(of: &v6) { Array($0) }) {
                            addresses.append(address)
                        }
                    default: break
                    }
                }
                next = info.pointee.ai_next
            }
            var seen = Set<IPAddress>()
            return addresses.filter { seen.insert($0).inserted }
        }
    }
}
