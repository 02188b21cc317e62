import ArgumentParser
import DabbaCore
import DabbaHub

/// Every hub config key as a flag (`--http-port`), plus `--config`. Flags win over the environment, which wins
/// over the config file, which wins over the defaults.
public struct HubOptions: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: "Config file of DABBA_*=value lines (default /etc/default/dabba-hub; env DABBA_CONFIG).")
    public var configFile: String?

    @Option(name: .customLong("http-host"), help: "Address the HTTP server binds (default 127.0.0.1).")
    var httpHost: String?
    @Option(name: .customLong("http-port"), help: "HTTP port (default 8080).") var httpPort: String?
    @Option(name: .customLong("mqtt-host"), help: "MQTT broker host (default 127.0.0.1).") var mqttHost: String?
    @Option(name: .customLong("mqtt-port"), help: "MQTT broker port (default 1883).") var mqttPort: String?
    @Option(name: .customLong("mqtt-username"), help: "The hub's MQTT user (default: anonymous).")
    var mqttUsername: String?
    @Option(name: .customLong("mqtt-password-file"), help: "File holding the hub's MQTT password.")
    var mqttPasswordFile: String?
    @Option(name: .customLong("mqtt-tls-ca"), help: "CA file; enables TLS to the broker.") var mqttTLSCA: String?
    @Option(
        name: .customLong("database"), help: "sqlite:PATH (default sqlite:/var/lib/dabba-hub/hub.db) or postgres://….")
    var database: String?
    @Option(name: .customLong("dispatch-policy"), help: "batch, nearest or least-recent (default batch).")
    var dispatchPolicy: String?
    @Option(name: .customLong("ingest-group"), help: "MQTT shared-subscription group (default: none).")
    var ingestGroup: String?
    @Option(name: .customLong("commit-interval-ms"), help: "Longest wait before a group commit (default 100).")
    var commitInterval: String?
    @Option(name: .customLong("commit-batch"), help: "Fixes per transaction at most (default 5000).")
    var commitBatch: String?
    @Option(name: .customLong("position-retention-days"), help: "Days positions are kept (default 30).")
    var positionRetentionDays: String?
    @Option(name: .customLong("owntracks-map"), help: "OwnTracks user/device=agent pairs, comma separated.")
    var owntracksMap: String?
    @Option(
        name: .customLong("jwt-secret-file"),
        help: "JWT signing secret file (default: generated, kept in the database).")
    var jwtSecretFile: String?
    @Option(name: .customLong("access-token-ttl"), help: "Access token lifetime in seconds (default 900).")
    var accessTokenTTL: String?
    @Option(name: .customLong("refresh-token-ttl"), help: "Refresh token lifetime in seconds (default 2592000).")
    var refreshTokenTTL: String?
    @Option(name: .customLong("allowed-origins"), help: "Origins allowed to open WebSockets, comma separated.")
    var allowedOrigins: String?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted (default 1048576).")
    var maxBodyBytes: String?
    @Option(name: .customLong("assets"), help: "Folder with web pages and openapi.yaml (default /usr/share/dabba-hub).")
    var assets: String?
    @Option(name: .customLong("mosquitto-password-file"), help: "Broker password file `agents provision` writes.")
    var mosquittoPasswordFile: String?
    @Option(name: .customLong("mosquitto-acl-file"), help: "Broker ACL file `agents provision` writes.")
    var mosquittoACLFile: String?
    @Option(name: .customLong("log-level"), help: "Log level (default info).") var logLevel: String?
    @Option(
        name: .customLong("dispatch-interval"),
        help: "Seconds between dispatch rounds (also run on order events) (default 2).") var dispatchInterval: String?
    @Option(
        name: .customLong("offer-timeout"),
        help: "Seconds an agent has to accept an offer before the next one (default 45).") var offerTimeout: String?
    @Option(
        name: .customLong("dispatch-fix-max-age"),
        help: "An agent is available only with a fix at most this old (s) (default 60).") var dispatchFixMaxAge: String?
    @Option(
        name: .customLong("dispatch-offline-grace"),
        help: "Seconds an agent may be offline before its offers and unpicked orders go back to dispatch (default 120)."
    ) var dispatchOfflineGrace: String?
    @Option(
        name: .customLong("dispatch-wait-alert"),
        help: "Seconds an order may wait for an agent before operators get an alert; 0: never (default 600)."
    ) var dispatchWaitAlert: String?
    @Option(
        name: .customLong("agent-capacity"),
        help: "Orders an agent carries and holds on offer at once (>1 stacks one restaurant's) (default 1).")
    var agentCapacity: String?
    @Option(
        name: .customLong("leaflet-dir"),
        help:
            "Leaflet's folder (Debian's libjs-leaflet), served to the web pages under /vendor/leaflet/ (default /usr/share/javascript/leaflet)."
    ) var leafletDir: String?
    @Option(
        name: .customLong("tax-rate-bps"),
        help: "Tax on items plus delivery fee, basis points (500 = 5%) (default 500).") var taxRateBps: String?
    @Option(
        name: .customLong("eta-detour-percent"),
        help: "Road over straight-line distance for ETAs, percent (default 135).") var etaDetourPercent: String?
    @Option(
        name: .customLong("share-ttl-minutes"),
        help: "Default lifetime of an order's tracking link, minutes (default 360).") var shareTtlMinutes: String?
    @Option(
        name: .customLong("share-grace-minutes"),
        help: "Tracking links keep working this long after delivery (default 15).") var shareGraceMinutes: String?
    @Option(
        name: .customLong("webhook-retry-base"),
        help: "Seconds before a failed webhook delivery is retried; doubles per failure, jittered (default 2).")
    var webhookRetryBase: String?
    @Option(
        name: .customLong("webhook-retry-max"), help: "Longest wait between webhook retries (seconds) (default 600).")
    var webhookRetryMax: String?
    @Option(
        name: .customLong("webhook-max-attempts"),
        help: "Attempts per webhook delivery before it is given up (default 10).") var webhookMaxAttempts: String?
    @Option(
        name: .customLong("webhook-timeout"),
        help: "Seconds one webhook request may take, answer included (default 10).") var webhookTimeout: String?
    @Option(name: .customLong("webhook-concurrency"), help: "Webhook requests in flight at most (default 8).")
    var webhookConcurrency: String?
    @Option(
        name: .customLong("webhook-poll-interval"),
        help: "Seconds between reads of the order trail for events other hubs wrote, and for due retries (default 5).")
    var webhookPollInterval: String?
    @Option(
        name: .customLong("cod-cash-limit"),
        help: "Most cash (minor units) an agent may hold or be due when given a cod order (default 500000).")
    var codCashLimit: String?
    @Option(
        name: .customLong("payment-provider"),
        help: "Card payment provider: test (development and demos only); no default.")
    var paymentProvider: String?
    @Option(name: .customLong("payment-methods"), help: "How customers may pay: card, cod (default card,cod).")
    var paymentMethods: String?
    @Option(
        name: .customLong("payment-provider-timeout"),
        help: "Seconds to wait for one payment provider answer (default 15).")
    var paymentProviderTimeout: String?
    @Option(
        name: .customLong("payment-retry-base"),
        help: "Seconds before a failed provider call is retried; doubles per failure (default 1).")
    var paymentRetryBase: String?
    @Option(name: .customLong("payment-retry-max"), help: "Longest wait between provider call retries (default 300).")
    var paymentRetryMax: String?
    @Option(
        name: .customLong("payment-max-attempts"),
        help: "Attempts of one provider call before it becomes a dead letter (default 10).")
    var paymentMaxAttempts: String?
    @Option(
        name: .customLong("payment-webhook-secret-file"),
        help: "Test payment provider's webhook secret file (default: generated).")
    var paymentWebhookSecretFile: String?
    @Option(
        name: .customLong("payment-poll-interval"),
        help: "Seconds between payment reactor reads of the order trail (default 5).")
    var paymentPollInterval: String?
    @Option(name: .customLong("idempotency-ttl-hours"), help: "Hours an Idempotency-Key is remembered (default 24).")
    var idempotencyTTLHours: String?
    @Option(
        name: .customLong("refresh-token-max-lifetime"),
        help: "Seconds a sign-in lasts at most, however often refreshed (default 7776000).")
    var refreshTokenMaxLifetime: String?
    @Option(
        name: .customLong("revocation-cache-seconds"),
        help: "Seconds a hub trusts its cached view of a user's revocations (default 5).")
    var revocationCacheSeconds: String?
    @Option(name: .customLong("ws-tickets-per-user"), help: "Unused WebSocket tickets per user at most (default 20).")
    var wsTicketsPerUser: String?
    @Option(name: .customLong("rate-limit-login-account"), help: "Sign-ins per account, N/SECONDS (default 10/300).")
    var rateLimitLoginAccount: String?
    @Option(
        name: .customLong("rate-limit-login-address"), help: "Sign-ins per client address, N/SECONDS (default 30/60).")
    var rateLimitLoginAddress: String?
    @Option(
        name: .customLong("rate-limit-register-account"), help: "Registrations per email, N/SECONDS (default 3/3600).")
    var rateLimitRegisterAccount: String?
    @Option(
        name: .customLong("rate-limit-register-address"),
        help: "Registrations per client address, N/SECONDS (default 20/3600).")
    var rateLimitRegisterAddress: String?
    @Option(
        name: .customLong("rate-limit-refresh-account"),
        help: "Token refreshes per account, N/SECONDS (default 30/300).")
    var rateLimitRefreshAccount: String?
    @Option(
        name: .customLong("rate-limit-refresh-address"),
        help: "Token refreshes per client address, N/SECONDS (default 120/60).")
    var rateLimitRefreshAddress: String?
    @Option(
        name: .customLong("rate-limit-ticket-account"), help: "WebSocket tickets per user, N/SECONDS (default 60/60).")
    var rateLimitTicketAccount: String?
    @Option(
        name: .customLong("rate-limit-ticket-address"),
        help: "WebSocket tickets per client address, N/SECONDS (default 300/60).")
    var rateLimitTicketAddress: String?
    @Option(
        name: .customLong("trusted-proxies"),
        help: "Proxies (addresses, CIDR ranges) whose X-Forwarded-For names the client (default: none).")
    var trustedProxies: String?
    @Option(
        name: .customLong("webhook-allow-hosts"),
        help: "Webhook hosts allowed to resolve to loopback/private/link-local/multicast addresses (default: none).")
    var webhookAllowHosts: String?
    @Option(name: .customLong("webhook-max-endpoints"), help: "Webhook endpoints per user at most (default 10).")
    var webhookMaxEndpoints: String?

    public init() {}

    /// The flags that were given, by key name.
    public var flagValues: [String: String] {
        let all: [(String, String?)] = [
            ("http-host", httpHost), ("http-port", httpPort), ("mqtt-host", mqttHost), ("mqtt-port", mqttPort),
            ("mqtt-username", mqttUsername), ("mqtt-password-file", mqttPasswordFile), ("mqtt-tls-ca", mqttTLSCA),
            ("database", database), ("dispatch-policy", dispatchPolicy), ("ingest-group", ingestGroup),
            ("commit-interval-ms", commitInterval), ("commit-batch", commitBatch),
            ("position-retention-days", positionRetentionDays), ("owntracks-map", owntracksMap),
            ("jwt-secret-file", jwtSecretFile), ("access-token-ttl", accessTokenTTL),
            ("refresh-token-ttl", refreshTokenTTL), ("allowed-origins", allowedOrigins),
            ("max-body-bytes", maxBodyBytes), ("assets", assets), ("mosquitto-password-file", mosquittoPasswordFile),
            ("mosquitto-acl-file", mosquittoACLFile), ("log-level", logLevel),
            ("dispatch-interval", dispatchInterval), ("offer-timeout", offerTimeout),
            ("dispatch-fix-max-age", dispatchFixMaxAge), ("dispatch-offline-grace", dispatchOfflineGrace),
            ("dispatch-wait-alert", dispatchWaitAlert),
            ("agent-capacity", agentCapacity), ("leaflet-dir", leafletDir), ("tax-rate-bps", taxRateBps),
            ("eta-detour-percent", etaDetourPercent), ("share-ttl-minutes", shareTtlMinutes),
            ("share-grace-minutes", shareGraceMinutes), ("webhook-retry-base", webhookRetryBase),
            ("webhook-retry-max", webhookRetryMax), ("webhook-max-attempts", webhookMaxAttempts),
            ("webhook-timeout", webhookTimeout), ("webhook-concurrency", webhookConcurrency),
            ("webhook-poll-interval", webhookPollInterval),
            ("cod-cash-limit", codCashLimit),
            ("payment-provider", paymentProvider), ("payment-methods", paymentMethods),
            ("payment-provider-timeout", paymentProviderTimeout), ("payment-retry-base", paymentRetryBase),
            ("payment-retry-max", paymentRetryMax), ("payment-max-attempts", paymentMaxAttempts),
            ("payment-webhook-secret-file", paymentWebhookSecretFile), ("payment-poll-interval", paymentPollInterval),
            ("idempotency-ttl-hours", idempotencyTTLHours),
            ("refresh-token-max-lifetime", refreshTokenMaxLifetime),
            ("revocation-cache-seconds", revocationCacheSeconds),
            ("ws-tickets-per-user", wsTicketsPerUser), ("rate-limit-login-account", rateLimitLoginAccount),
            ("rate-limit-login-address", rateLimitLoginAddress),
            ("rate-limit-register-account", rateLimitRegisterAccount),
            ("rate-limit-register-address", rateLimitRegisterAddress),
            ("rate-limit-refresh-account", rateLimitRefreshAccount),
            ("rate-limit-refresh-address", rateLimitRefreshAddress),
            ("rate-limit-ticket-account", rateLimitTicketAccount),
            ("rate-limit-ticket-address", rateLimitTicketAddress), ("trusted-proxies", trustedProxies),
            ("webhook-allow-hosts", webhookAllowHosts), ("webhook-max-endpoints", webhookMaxEndpoints),
        ]
        return Dictionary(uniqueKeysWithValues: all.compactMap { key, value in value.map { (key, $0) } })
    }

    /// Resolves the layers into a validated configuration.
    public func resolve(environment: [String: String]) throws(ConfigError) -> HubConfiguration {
        let file = configFile ?? environment["DABBA_CONFIG"] ?? HubConfiguration.defaultConfigFile
        let layered = try LayeredConfiguration(
            keys: HubConfiguration.keys, file: file,
            fileRequired: configFile != nil || environment["DABBA_CONFIG"] != nil,
            environment: environment, flags: flagValues)
        return try HubConfiguration(layered)
    }
}
