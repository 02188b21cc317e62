import DabbaCore
import Foundation
import HubModel
import Hummingbird
import Logging
import ServiceLifecycle

extension HubApplication {
    /// The payment service over `store` with the hub's providers and cash limit.
    static func paymentService<Store: HubStore>(hub: HubComponents, store: Store, logger: Logger) -> PaymentService<
        Store
    > {
        PaymentService(
            store: store, providers: hub.paymentProviders, cashLimit: hub.configuration.codCashLimit, logger: logger,
            settings: PaymentSettings(hub.configuration), metrics: hub.metrics)
    }

    /// The service that moves money when orders move (captures, voids, cash on delivery).
    static func paymentReactor<Store: HubStore>(hub: HubComponents, store: Store, logger: Logger) -> any Service {
        PaymentReactor(
            payments: paymentService(hub: hub, store: store, logger: logger), bus: hub.notifier.bus,
            pollInterval: hub.configuration.paymentPollInterval, logger: logger)
    }

    /// Payments, provider webhooks and the operators' ledger.
    static func addPaymentRoutes<Store: HubStore>(
        store: Store, hub: HubComponents, to router: Router<HubRequestContext>
    ) {
        var logger = Logger(label: "dabba-hub.payments")
        logger.logLevel = hub.configuration.logLevel
        let payments = paymentService(hub: hub, store: store, logger: logger)
        PaymentsController(
            payments: payments, idempotencyTTL: Int64(hub.configuration.idempotencyTTLHours) * 3_600_000
        ).addRoutes(to: router)
    }
}

extension PaymentProviders {
    static let secretSetting = "payment-webhook-secret"

    /// The provider `payment-provider` names. There is no default: with card payments on (`payment-methods`) and no
    /// provider the hub refuses to start, naming the key. `test` is the built-in test provider, keyed with
    /// `payment-webhook-secret-file` when set, else with a secret generated once and kept in the database
    /// (`settings`), so every hub on one database verifies the same way.
    static func make(configuration: HubConfiguration, store: any UserRepository) async throws -> PaymentProviders {
        try check(configuration)
        guard let name = configuration.paymentProvider else { return PaymentProviders([]) }
        switch name {
        case "test":
            return PaymentProviders([TestPaymentProvider(webhookSecret: try await webhookSecret(configuration, store))])
        default:
            throw ConfigError(key: "payment-provider", message: "payment-provider: unknown provider \(name)")
        }
    }

    /// Refuses card payments without a provider (before anything is opened: `serve` checks it first).
    package static func check(_ configuration: HubConfiguration) throws(ConfigError) {
        if configuration.paymentProvider == nil && configuration.paymentMethods.contains(.card) {
            throw missingProvider
        }
    }

    static let missingProvider = ConfigError(
        key: "payment-provider",
        message: """
            payment-provider: card payments are enabled (payment-methods includes card) but no payment provider is \
            configured. Set payment-provider (DABBA_PAYMENT_PROVIDER, --payment-provider): test is the built-in test \
            provider, for development and demos only (it authorizes any valid card number and moves no money). A hub \
            that takes cash on delivery only sets payment-methods=cod.
            """)

    static func webhookSecret(_ configuration: HubConfiguration, _ store: any UserRepository) async throws -> String {
        if let path = configuration.paymentWebhookSecretFile {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError(
                    key: "payment-webhook-secret-file", message: "payment-webhook-secret-file: cannot read \(path)")
            }
            let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard secret.utf8.count >= 16 else {
                throw ConfigError(
                    key: "payment-webhook-secret-file",
                    message: "payment-webhook-secret-file: \(path) must hold at least 16 characters")
            }
            return secret
        }
        let bytes = try await store.setting(secretSetting, insertingIfAbsent: Array(AuthRandom.token(bytes: 32).utf8))
        return String(decoding: bytes, as: UTF8.self)
    }
}
