import DabbaCore
import Foundation
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

    /// The built-in test provider, keyed with `payment-webhook-secret-file` when set, else with a secret generated
    /// once and kept in the database (`settings`), so every hub on one database verifies the same way.
    static func make(configuration: HubConfiguration, store: any UserRepository) async throws -> PaymentProviders {
        let secret: String
        if let path = configuration.paymentWebhookSecretFile {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError(
                    key: "payment-webhook-secret-file", message: "payment-webhook-secret-file: cannot read \(path)")
            }
            secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard secret.utf8.count >= 16 else {
                throw ConfigError(
                    key: "payment-webhook-secret-file",
                    message: "payment-webhook-secret-file: \(path) must hold at least 16 characters")
            }
        } else {
            let bytes = try await store.setting(
                secretSetting, insertingIfAbsent: Array(AuthRandom.token(bytes: 32).utf8))
            secret = String(decoding: bytes, as: UTF8.self)
        }
        return PaymentProviders([TestPaymentProvider(webhookSecret: secret)])
    }
}
