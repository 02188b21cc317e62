import DabbaCore
import HubModel
import Logging

/// Everything `dabba-hub` needs, resolved from defaults → config file → environment → flags.
package struct HubConfiguration: Sendable {
    package var httpHost: String
    package var httpPort: Int
    package var mqttHost: String
    package var mqttPort: Int
    package var mqttUsername: String?
    package var mqttPasswordFile: String?
    package var mqttTLSCA: String?
    /// `sqlite:PATH` (the embedded default) or a `postgres://` URL.
    package var database: String
    package var dispatchPolicy: String
    package var dispatchInterval: Duration
    /// With `ingest-group` set: the dispatcher's lease (only its holder runs rounds; see ``DispatchLease``).
    package var dispatchLease: Duration
    package var offerTimeout: Duration
    package var dispatchFixMaxAge: Duration
    package var dispatchOfflineGrace: Duration
    /// An order waiting this long for an agent raises an operator alert; nil (configured 0): never.
    package var dispatchWaitAlert: Duration?
    package var agentCapacity: Int
    /// MQTT shared-subscription group; empty means every hub receives every message.
    package var ingestGroup: String?
    package var commitInterval: Duration
    package var commitBatch: Int
    package var positionRetentionDays: Int
    /// `user/device=agent` pairs, comma separated.
    package var owntracksMap: [String: String]
    package var jwtSecretFile: String?
    package var accessTokenTTL: Int
    package var refreshTokenTTL: Int
    /// Seconds a sign-in (refresh family) lives at most, however often it is refreshed.
    package var refreshTokenMaxLifetime: Int
    /// How long a hub trusts its cached revocation state of a user's sign-in (other hubs' changes show within it).
    package var revocationCache: Duration
    /// Outstanding WebSocket tickets per user at most.
    package var wsTicketsPerUser: Int
    /// Per account and per client address, for each rate-limited auth action.
    package var rateLimits: [(action: AuthRateLimits.Action, account: Rate, address: Rate)]
    /// Proxies whose `X-Forwarded-For` is believed (the client address of the rate limits).
    package var trustedProxies: [IPNetwork]
    package var allowedOrigins: [String]
    package var maxBodyBytes: Int
    package var assets: String
    /// Folder holding Leaflet (`leaflet.js`, `leaflet.css`, `images/`), served under `/vendor/leaflet/`.
    package var leafletDir: String
    /// The maps' tile source (`map-tiles-url`); nil: no tiles (markers, routes and zones on a blank map).
    package var mapTiles: MapTiles?
    package var mosquittoPasswordFile: String
    package var mosquittoACLFile: String
    package var logLevel: Logger.Level
    /// Tax on subtotal plus delivery fee, in basis points (1/100 of a percent).
    package var taxRateBasisPoints: Int
    /// Road distance over straight-line distance for ETAs, percent.
    package var etaDetourPercent: Int
    /// Default lifetime of an order's share link.
    package var shareTTLMinutes: Int
    /// How long a share link keeps working after its order ended.
    package var shareGraceMinutes: Int
    /// Outgoing webhooks: delay before the first retry (doubling per failure, jittered, capped at `webhookRetryMax`).
    package var webhookRetryBase: Duration
    package var webhookRetryMax: Duration
    /// Attempts per delivery before it is given up (`failed`).
    package var webhookMaxAttempts: Int
    /// Deadline of one webhook request (connect, send, answer).
    package var webhookTimeout: Duration
    /// Webhook requests in flight at most (per hub).
    package var webhookConcurrency: Int
    /// How often the audit trail is read even without a local event (events written by other hubs).
    package var webhookPollInterval: Duration
    /// Webhook destinations that may resolve to loopback, private, link-local or multicast addresses (host names
    /// as in the URL, addresses, CIDR ranges).
    package var webhookAllowHosts: WebhookEgress.AllowList
    /// Webhook endpoints one user may register at most.
    package var webhookMaxEndpoints: Int
    /// Most cash (minor units) an agent may hold or be due (``AssignmentLimits``) when it is given a cash-on-delivery
    /// order.
    package var codCashLimit: Int64
    /// The card payment provider (`test`: the built-in test provider); nil: none. There is no default: a hub that
    /// takes cards refuses to start without one.
    package var paymentProvider: String?
    /// How customers may pay (order placement refuses the others).
    package var paymentMethods: Set<PaymentMethod>
    /// File with the test payment provider's webhook signing secret; nil keeps a generated one in the database.
    package var paymentWebhookSecretFile: String?
    /// Longest wait for one answer from the payment provider; none by then is an unknown outcome.
    package var paymentProviderTimeout: Duration
    /// A failed provider operation is retried after this, doubling per failure (jittered), up to `paymentRetryMax`.
    package var paymentRetryBase: Duration
    package var paymentRetryMax: Duration
    /// Attempts of one provider operation before it becomes a dead letter.
    package var paymentMaxAttempts: Int
    /// How often the payment reactor reads the order trail without a local wake-up (events other hubs wrote).
    package var paymentPollInterval: Duration
    /// How long an `Idempotency-Key` of a money POST is remembered.
    package var idempotencyTTLHours: Int

    package static let defaultConfigFile = "/etc/default/dabba-hub"

    /// Every key, its default and one line of help. `systemd/dabba-hub.default` is this table, commented out.
    package static let keys: [ConfigKey] = [
        ConfigKey("http-host", default: "127.0.0.1", help: "Address the HTTP server binds."),
        ConfigKey("http-port", default: "8080", help: "HTTP port."),
        ConfigKey("mqtt-host", default: "127.0.0.1", help: "MQTT broker host."),
        ConfigKey("mqtt-port", default: "1883", help: "MQTT broker port."),
        ConfigKey("mqtt-username", default: "", help: "The hub's MQTT user; empty connects anonymously."),
        ConfigKey("mqtt-password-file", default: "", help: "File whose first line is the hub's MQTT password."),
        ConfigKey("mqtt-tls-ca", default: "", help: "CA certificate; when set, the broker connection uses TLS."),
        ConfigKey(
            "database", default: "sqlite:/var/lib/dabba-hub/hub.db",
            help:
                "sqlite:PATH (embedded, one machine) or postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=require "
                + "(PostgreSQL 15+, several hubs; the role and database must exist, dabba-hub migrate creates the "
                + "tables; sslmode disable|prefer|require, pool_max=N connections per hub, default 20; "
                + "application_name=NAME as pg_stat_activity shows it, default dabba-hub)."),
        ConfigKey(
            "dispatch-policy", default: "batch",
            help: "How orders are assigned: batch (optimal matching every round), nearest, or least-recent."),
        ConfigKey(
            "dispatch-interval", default: "2", help: "Seconds between dispatch rounds (also run on order events)."),
        ConfigKey("offer-timeout", default: "45", help: "Seconds an agent has to accept an offer before the next one."),
        ConfigKey(
            "dispatch-fix-max-age", default: "60", help: "An agent is available only with a fix at most this old (s)."),
        ConfigKey(
            "dispatch-offline-grace", default: "120",
            help:
                "Seconds an agent may be offline (its Will) before its pending offers and not-yet-picked-up orders go back to dispatch; a device that restarts sooner keeps them."
        ),
        ConfigKey(
            "dispatch-wait-alert", default: "600",
            help:
                "Seconds an order may wait for an agent (from confirmation or its last unassignment) before operators get one alert for it; 0 turns it off."
        ),
        ConfigKey(
            "agent-capacity", default: "1",
            help: "Orders an agent carries and holds on offer at once (>1 stacks one restaurant's)."),
        ConfigKey(
            "ingest-group", default: "",
            help:
                "MQTT shared-subscription group name; set it on every hub to split ingest between hubs (and relay positions and states between them, and run dispatch on one hub at a time)."
        ),
        ConfigKey(
            "dispatch-lease", default: "10",
            help:
                "With ingest-group: seconds of the dispatcher's lease in the database; only its holder runs dispatch rounds, renewed every third of it; another hub takes over at most ~1.33x this after the holder dies."
        ),
        ConfigKey("commit-interval-ms", default: "100", help: "Longest wait before received fixes are committed (ms)."),
        ConfigKey("commit-batch", default: "5000", help: "Fixes committed in one transaction at most."),
        ConfigKey(
            "position-retention-days", default: "30", help: "Days positions are kept (pruned in the background)."),
        ConfigKey("owntracks-map", default: "", help: "OwnTracks user/device=agent pairs, comma separated."),
        ConfigKey(
            "jwt-secret-file", default: "",
            help:
                "File holding the JWT signing secret (set it in production); empty keeps a generated one in the database."
        ),
        ConfigKey("access-token-ttl", default: "900", help: "Access token lifetime in seconds."),
        ConfigKey(
            "refresh-token-ttl", default: "2592000",
            help: "Seconds a refresh token lives; each refresh issues a new one (up to refresh-token-max-lifetime)."),
        ConfigKey(
            "refresh-token-max-lifetime", default: "7776000",
            help: "Seconds a sign-in lasts at most, however often it is refreshed; then the user signs in again."),
        ConfigKey(
            "revocation-cache-seconds", default: "5",
            help:
                "Seconds a hub trusts its cached view of a user's revocations (disabled, tokens revoked, signed out); changes made through another hub take effect within it."
        ),
        ConfigKey(
            "ws-tickets-per-user", default: "20",
            help: "Unused WebSocket tickets one user may hold at once (429 beyond)."
        ),
        ConfigKey(
            "rate-limit-login-account", default: "10/300",
            help:
                "Sign-in attempts (and password changes) per account: N/SECONDS, a burst of N refilled over SECONDS (429 beyond)."
        ),
        ConfigKey(
            "rate-limit-login-address", default: "30/60", help: "Sign-in attempts per client address: N/SECONDS."),
        ConfigKey("rate-limit-register-account", default: "3/3600", help: "Registrations per email: N/SECONDS."),
        ConfigKey(
            "rate-limit-register-address", default: "20/3600", help: "Registrations per client address: N/SECONDS."),
        ConfigKey(
            "rate-limit-refresh-account", default: "30/300",
            help: "Token refreshes per account (the refresh token's user): N/SECONDS."),
        ConfigKey(
            "rate-limit-refresh-address", default: "120/60", help: "Token refreshes per client address: N/SECONDS."),
        ConfigKey(
            "rate-limit-ticket-account", default: "60/60",
            help: "WebSocket tickets issued per user: N/SECONDS."),
        ConfigKey(
            "rate-limit-ticket-address", default: "300/60", help: "WebSocket tickets per client address: N/SECONDS."),
        ConfigKey(
            "trusted-proxies", default: "",
            help:
                "Reverse proxies (addresses or CIDR ranges, comma separated) whose X-Forwarded-For names the client for the per-address rate limits; empty: the connection's peer is the client."
        ),
        ConfigKey(
            "allowed-origins", default: "",
            help: "Origins allowed to open WebSockets, comma separated; empty allows the hub's own origin only."),
        ConfigKey("max-body-bytes", default: "1048576", help: "Largest request body accepted."),
        ConfigKey("assets", default: "/usr/share/dabba-hub", help: "Folder with web pages and openapi.yaml."),
        ConfigKey(
            "leaflet-dir", default: "/usr/share/javascript/leaflet",
            help: "Leaflet's folder (Debian's libjs-leaflet), served to the web pages under /vendor/leaflet/."),
        ConfigKey(
            "map-tiles-url", default: MapTiles.openStreetMap,
            help:
                "Tile URL template of the web pages' maps ({z}/{x}/{y}, optional {s}. host prefix); the CSP allows images from its origin only; empty: no tiles (markers and routes on a blank map)."
        ),
        ConfigKey(
            "mosquitto-password-file", default: "/etc/mosquitto/dabba.passwd",
            help: "Broker password file that `agents provision` writes."),
        ConfigKey(
            "mosquitto-acl-file", default: "/etc/mosquitto/dabba.acl",
            help: "Broker ACL file that `agents provision` writes."
        ),
        ConfigKey("log-level", default: "info", help: "trace, debug, info, notice, warning, error or critical."),
        ConfigKey("tax-rate-bps", default: "500", help: "Tax on items plus delivery fee, basis points (500 = 5%)."),
        ConfigKey("eta-detour-percent", default: "135", help: "Road over straight-line distance for ETAs, percent."),
        ConfigKey("share-ttl-minutes", default: "360", help: "Default lifetime of an order's tracking link, minutes."),
        ConfigKey("share-grace-minutes", default: "15", help: "Tracking links keep working this long after delivery."),
        ConfigKey(
            "webhook-retry-base", default: "2",
            help: "Seconds before a failed webhook delivery is retried; doubles per failure, jittered."),
        ConfigKey("webhook-retry-max", default: "600", help: "Longest wait between webhook retries (seconds)."),
        ConfigKey("webhook-max-attempts", default: "10", help: "Attempts per webhook delivery before it is given up."),
        ConfigKey("webhook-timeout", default: "10", help: "Seconds one webhook request may take, answer included."),
        ConfigKey("webhook-concurrency", default: "8", help: "Webhook requests in flight at most."),
        ConfigKey(
            "webhook-poll-interval", default: "5",
            help: "Seconds between reads of the order trail for events other hubs wrote, and for due retries."),
        ConfigKey(
            "webhook-allow-hosts", default: "",
            help:
                "Webhook hosts allowed to resolve to loopback, private, link-local or multicast addresses (names as in the URL, addresses or CIDR ranges, comma separated); empty: none."
        ),
        ConfigKey("webhook-max-endpoints", default: "10", help: "Webhook endpoints one user may register at most."),
        ConfigKey(
            "cod-cash-limit", default: "500000",
            help:
                "Most cash (minor units) an agent may hold or be due (held, not yet posted, carried, offered) when it is given a cash-on-delivery order."
        ),
        ConfigKey(
            "payment-provider", default: "",
            help:
                "Card payment provider. No default: with card payments on, the hub does not start without one. test = the built-in test provider, for development and demos only (any valid test card is authorized, no money moves)."
        ),
        ConfigKey(
            "payment-methods", default: "card,cod",
            help: "How customers may pay, comma separated: card, cod (cash on delivery). cod alone needs no provider."),
        ConfigKey(
            "payment-provider-timeout", default: "15",
            help: "Seconds to wait for one payment provider answer; no answer is an unknown outcome, reconciled first."
        ),
        ConfigKey(
            "payment-retry-base", default: "1",
            help:
                "Seconds before a failed provider call (capture, void, refund) is retried; doubles per failure, jittered."
        ),
        ConfigKey("payment-retry-max", default: "300", help: "Longest wait between provider call retries (seconds)."),
        ConfigKey(
            "payment-max-attempts", default: "10",
            help: "Attempts of one provider call before it becomes a dead letter (GET /v1/payments/dead-letters)."),
        ConfigKey(
            "payment-webhook-secret-file", default: "",
            help:
                "File with the test payment provider's webhook signing secret; empty keeps a generated one in the database."
        ),
        ConfigKey(
            "payment-poll-interval", default: "5",
            help: "Seconds between reads of the order trail by the payment reactor (captures, voids, cash on delivery)."
        ),
        ConfigKey(
            "idempotency-ttl-hours", default: "24", help: "Hours an Idempotency-Key of a payment request is remembered."
        ),
    ]

    /// Validates every key; a bad one throws a `ConfigError` naming it.
    package init(_ c: LayeredConfiguration) throws(ConfigError) {
        httpHost = try c.nonEmpty("http-host")
        httpPort = try c.int("http-port", in: 0...65535)
        mqttHost = try c.nonEmpty("mqtt-host")
        mqttPort = try c.int("mqtt-port", in: 1...65535)
        mqttUsername = c.optional("mqtt-username")
        mqttPasswordFile = c.optional("mqtt-password-file")
        mqttTLSCA = c.optional("mqtt-tls-ca")
        database = try c.nonEmpty("database", "expected sqlite:PATH or postgres://…") {
            $0.hasPrefix("sqlite:") && $0.count > 7 || $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://")
        }
        dispatchPolicy = try c.choice("dispatch-policy", ["batch", "nearest", "least-recent"])
        dispatchInterval = try c.seconds("dispatch-interval", in: 0.05...3600)
        dispatchLease = try c.seconds("dispatch-lease", in: 0.5...600)
        offerTimeout = try c.seconds("offer-timeout", in: 1...3600)
        dispatchFixMaxAge = try c.seconds("dispatch-fix-max-age", in: 1...86_400)
        dispatchOfflineGrace = try c.seconds("dispatch-offline-grace", in: 0...86_400)
        let waitAlert = try c.seconds("dispatch-wait-alert", in: 0...86_400)
        dispatchWaitAlert = waitAlert == .zero ? nil : waitAlert
        agentCapacity = try c.int("agent-capacity", in: 1...10)
        ingestGroup = try c.optional("ingest-group").map { (group: String) throws(ConfigError) -> String in
            guard group.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw c.invalid("ingest-group", "expected letters, digits, - and _")
            }
            return group
        }
        commitInterval = .milliseconds(try c.int("commit-interval-ms", in: 1...10_000))
        commitBatch = try c.int("commit-batch", in: 1...100_000)
        positionRetentionDays = try c.int("position-retention-days", in: 1...36_500)
        var map: [String: String] = [:]
        for pair in (c.optional("owntracks-map") ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
            guard parts.count == 2, parts[0].split(separator: "/").count == 2, !parts[1].isEmpty else {
                throw c.invalid("owntracks-map", "expected user/device=agent pairs, comma separated")
            }
            map[parts[0]] = parts[1]
        }
        owntracksMap = map
        jwtSecretFile = c.optional("jwt-secret-file")
        accessTokenTTL = try c.int("access-token-ttl", in: 30...86_400)
        refreshTokenTTL = try c.int("refresh-token-ttl", in: 60...31_536_000)
        refreshTokenMaxLifetime = try c.int("refresh-token-max-lifetime", in: 60...315_360_000)
        revocationCache = try c.seconds("revocation-cache-seconds", in: 0...300)
        wsTicketsPerUser = try c.int("ws-tickets-per-user", in: 1...10_000)
        rateLimits = try AuthRateLimits.Action.allCases.map { action throws(ConfigError) in
            (
                action, try c.rate("rate-limit-\(action.rawValue)-account"),
                try c.rate("rate-limit-\(action.rawValue)-address")
            )
        }
        trustedProxies = try c.networks("trusted-proxies")
        allowedOrigins = (c.optional("allowed-origins") ?? "").split(separator: ",").map { String($0).trimmingSpaces }
        maxBodyBytes = try c.int("max-body-bytes", in: 1024...(64 << 20))
        assets = try c.nonEmpty("assets")
        leafletDir = try c.nonEmpty("leaflet-dir")
        mapTiles = try c.optional("map-tiles-url").map { (template: String) throws(ConfigError) -> MapTiles in
            guard let tiles = MapTiles(template) else {
                throw c.invalid(
                    "map-tiles-url",
                    "expected an http(s) URL template with {z}, {x} and {y}, such as \(MapTiles.openStreetMap)")
            }
            return tiles
        }
        mosquittoPasswordFile = try c.nonEmpty("mosquitto-password-file")
        mosquittoACLFile = try c.nonEmpty("mosquitto-acl-file")
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        logLevel = Logger.Level(rawValue: try c.choice("log-level", levels)) ?? .info
        taxRateBasisPoints = try c.int("tax-rate-bps", in: 0...10_000)
        etaDetourPercent = try c.int("eta-detour-percent", in: 100...400)
        shareTTLMinutes = try c.int("share-ttl-minutes", in: 1...10_080)
        shareGraceMinutes = try c.int("share-grace-minutes", in: 0...1_440)
        webhookRetryBase = try c.seconds("webhook-retry-base", in: 0.001...3600)
        webhookRetryMax = try c.seconds("webhook-retry-max", in: 0.001...86_400)
        webhookMaxAttempts = try c.int("webhook-max-attempts", in: 1...100)
        webhookTimeout = try c.seconds("webhook-timeout", in: 0.1...300)
        webhookConcurrency = try c.int("webhook-concurrency", in: 1...256)
        webhookPollInterval = try c.seconds("webhook-poll-interval", in: 0.01...3600)
        guard let allowHosts = WebhookEgress.AllowList(c.optional("webhook-allow-hosts") ?? "") else {
            throw c.invalid("webhook-allow-hosts", "expected host names, addresses or CIDR ranges, comma separated")
        }
        webhookAllowHosts = allowHosts
        webhookMaxEndpoints = try c.int("webhook-max-endpoints", in: 1...10_000)
        codCashLimit = Int64(try c.int("cod-cash-limit", in: 0...1_000_000_000_000))
        paymentProvider = try c.optional("payment-provider").map { (_: String) throws(ConfigError) in
            try c.choice("payment-provider", ["test"])
        }
        var methods = Set<PaymentMethod>()
        for name in c.string("payment-methods").split(separator: ",") {
            guard let method = PaymentMethod(rawValue: String(name).trimmingSpaces) else {
                throw c.invalid("payment-methods", "expected card, cod or both, comma separated")
            }
            methods.insert(method)
        }
        guard !methods.isEmpty else {
            throw c.invalid("payment-methods", "expected card, cod or both, comma separated")
        }
        paymentMethods = methods
        paymentWebhookSecretFile = c.optional("payment-webhook-secret-file")
        paymentProviderTimeout = try c.seconds("payment-provider-timeout", in: 0.01...600)
        paymentRetryBase = try c.seconds("payment-retry-base", in: 0.001...3600)
        paymentRetryMax = try c.seconds("payment-retry-max", in: 0.001...86_400)
        paymentMaxAttempts = try c.int("payment-max-attempts", in: 1...100)
        paymentPollInterval = try c.seconds("payment-poll-interval", in: 0.01...3600)
        idempotencyTTLHours = try c.int("idempotency-ttl-hours", in: 1...720)
    }

    /// The SQLite path when `database` is `sqlite:PATH`.
    package var sqlitePath: String? { database.hasPrefix("sqlite:") ? String(database.dropFirst(7)) : nil }

    /// Defaults for tests and tools: every key's default, then `overrides` (by key name).
    package static func make(_ overrides: [String: String] = [:]) throws(ConfigError) -> HubConfiguration {
        try HubConfiguration(LayeredConfiguration(keys: keys, file: nil, environment: [:], flags: overrides))
    }
}

extension LayeredConfiguration {
    /// A ``Rate`` written `N/SECONDS`.
    func rate(_ key: String) throws(ConfigError) -> Rate {
        guard let rate = Rate(string(key).trimmingSpaces) else {
            throw invalid(key, "expected N/SECONDS, such as 10/300 (1 to 1000000 per 1 to 86400 s)")
        }
        return rate
    }

    /// Addresses or CIDR ranges, comma separated (empty: none).
    func networks(_ key: String) throws(ConfigError) -> [IPNetwork] {
        var networks: [IPNetwork] = []
        for entry in (optional(key) ?? "").split(separator: ",") {
            let text = String(entry).trimmingSpaces
            guard !text.isEmpty else { continue }
            guard let network = IPNetwork(text) else {
                throw invalid(key, "expected addresses or CIDR ranges, comma separated (\(text)?)")
            }
            networks.append(network)
        }
        return networks
    }
}

extension String {
    package var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
