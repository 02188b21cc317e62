import HTTPTypes
import Hummingbird
import NIOCore

/// The client a request comes from, as the per-address rate limits key it.
///
/// The connection's peer, unless that peer is one of `trusted-proxies`: then the `X-Forwarded-For` list is read from
/// its right end (the entry the nearest proxy added), skipping trusted proxies, and the first other address is the
/// client. An IPv6 client is keyed by its /64 (a subscriber usually holds a whole /64). A peer the hub cannot name
/// (an in-process test connection) is "unknown".
enum ClientAddress {
    static let forwardedFor = HTTPField.Name("x-forwarded-for")!

    static func key(_ request: Request, peer: SocketAddress?, trusted: [IPNetwork]) -> String {
        guard let peerText = peer?.ipAddress, var client = IPAddress(peerText) else { return "unknown" }
        if isTrusted(client, trusted) {
            let hops = request.headers[values: forwardedFor].flatMap { $0.split(separator: ",") }
            for hop in hops.reversed() {
                guard let address = IPAddress(String(hop).trimmingSpaces) else { break }
                client = address
                if !isTrusted(address, trusted) { break }
            }
        }
        return client.isIPv4 ? client.description : client.prefix(64).description + "/64"
    }

    static func isTrusted(_ address: IPAddress, _ trusted: [IPNetwork]) -> Bool {
        trusted.contains { $0.contains(address) }
    }
}

extension HubRequestContext {
    /// The rate-limit key of the client (``ClientAddress``).
    func clientAddress(_ request: Request, trusted: [IPNetwork]) -> String {
        ClientAddress.key(request, peer: channel.remoteAddress, trusted: trusted)
    }
}
