import Crypto
import DabbaCore
import HubModel

/// The `Dabba-Signature` header of every webhook request, and how a receiver checks it.
///
/// Scheme: `Dabba-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is the lower-case hex HMAC-SHA256, keyed with
/// the endpoint's secret (its UTF-8 bytes, as returned once by `POST /v1/webhooks`), of the bytes
/// `"<t>." + <raw request body>`. A receiver recomputes the HMAC over the body exactly as received (before any JSON
/// parsing), compares in constant time, and rejects timestamps too far from its clock (5 minutes is usual) so a
/// captured request cannot be replayed later. `Dabba-Event-Id` (the order event id) is the same on every retry:
/// receivers deduplicate on it per endpoint. Unknown `vN=` parts are ignored, so the hub can add schemes later.
package enum WebhookSignature {
    /// The header's name.
    package static let header = "Dabba-Signature"

    /// The header value for `body` sent at `timestamp` (unix seconds).
    package static func sign(body: [UInt8], secret: String, timestamp: Int64) -> String {
        "t=\(timestamp),v1=" + AuthRandom.hex(mac(body: body, secret: secret, timestamp: timestamp))
    }

    /// Checks a received header against `body`: a `v1` HMAC that matches, and `t` within `tolerance` seconds of
    /// `now` (unix seconds). Throws ``WebhookError`` with code `invalidSignature` saying why not.
    package static func verify(
        header value: String, body: [UInt8], secret: String, now: Int64, tolerance: Int64 = 300
    ) throws(WebhookError) {
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for part in value.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "t": timestamp = Int64(pair[1])
            case "v1": if let bytes = unhex(pair[1]) { signatures.append(bytes) }
            default: continue
            }
        }
        guard let timestamp else { throw WebhookError(.invalidSignature, "no timestamp") }
        // Checked: `t` is the sender's, any Int64 (t=-9223372036854775808 made `now - t` trap before the HMAC check).
        guard Checked.within(tolerance, now, timestamp) else {
            throw WebhookError(.invalidSignature, "timestamp out of tolerance")
        }
        let key = SymmetricKey(data: Array(secret.utf8))
        let signed = Array("\(timestamp).".utf8) + body
        guard
            signatures.contains(where: {
                HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: signed, using: key)
            })
        else { throw WebhookError(.invalidSignature, "no matching v1 signature") }
    }

    static func mac(body: [UInt8], secret: String, timestamp: Int64) -> HMAC<SHA256>.MAC {
        HMAC<SHA256>.authenticationCode(
            for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(secret.utf8)))
    }

    static func unhex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            guard let high = value(chars[i]), let low = value(chars[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}
