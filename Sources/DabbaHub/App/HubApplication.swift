import DabbaCore
import DabbaMQTT
import HubModel
import Hummingbird
import HummingbirdWebSocket
import Logging
import ServiceLifecycle

/// The long-lived parts of one hub, shared by its routes and services.
package struct HubComponents: Sendable {
    package let configuration: HubConfiguration
    /// This process's id among the hubs: the end of its MQTT client id (`dabba-hub-{id}`), its relay topic
    /// (``ClusterRelay``) and its name as a lease holder; new at every start.
    package let hubID: String
    package let store: any HubStore
    package let metrics: HubMetrics
    /// Live positions and states for the WebSocket feeds.
    package let feed: FleetFeed
    package let mqtt: MQTTClient
    /// Accounts and tokens; WebSocket routes redeem tickets with `auth.redeemTicket(_:)`.
    package let auth: AuthService
    /// Committed order events to WebSockets, other hubs, agents' devices and webhooks.
    package let notifier: OrderNotifier
    /// Rings when ingest committed agents' device events (dispatch applies them).
    package let deviceEvents = Signal()
    /// Rings on every (re)connect of the hub's MQTT client, the first at start (dispatch sends the tasks again).
    package let brokerConnected = Signal()
    /// Card payment providers: the one `payment-provider` names (none when the hub takes cash only).
    package var paymentProviders = PaymentProviders([])
    /// How often the hub pings its WebSockets; a peer that has not answered by the next ping is closed.
    package var webSocketKeepalive: Duration = WebSocketKeepalive.defaultPeriod
    /// How often an open signed-in live feed re-checks its viewer's access (besides every status change and the
    /// token's expiry); tests shorten it.
    package var liveAccessRecheck: Duration = .seconds(30)
    /// How often an open share-link feed re-checks its link.
    package var shareRecheck: Duration = .seconds(5)
    /// The abuse limits of the auth routes (their clock is injectable: tests replace them).
    package var rateLimits: AuthRateLimits
    /// The dispatcher's clock (Unix milliseconds): the wall clock; tests move it to make offers lapse.
    package var dispatchClock: @Sendable () -> Int64 = { wallClockMilliseconds() }
    /// Whether the payment reactor runs (always in `serve`; a test of what happens before it posts turns it off).
    package var runsPaymentReactor = true

    /// Creates metrics, feed, the MQTT client (unique client id, credentials from the configuration) and the auth
    /// service (loading or creating the JWT secret) over an open `store`. `bcryptCost` is 12 in production; tests
    /// use 4.
    package static func make(
        configuration: HubConfiguration, store: any HubStore, logger: Logger, bcryptCost: UInt8 = 12
    ) async throws -> HubComponents {
        let hubID = AuthRandom.token(bytes: 6)
        let mqtt = MQTTClient(
            configuration: try HubApplication.mqttConfiguration(configuration, hubID: hubID), logger: logger)
        let metrics = HubMetrics()
        var hub = HubComponents(
            configuration: configuration, hubID: hubID, store: store, metrics: metrics, feed: FleetFeed(), mqtt: mqtt,
            auth: try await AuthService.make(configuration: configuration, users: store, bcryptCost: bcryptCost),
            notifier: OrderNotifier(bus: OrderEventBus(), mqtt: mqtt, logger: logger, metrics: metrics),
            rateLimits: AuthRateLimits(configuration: configuration, metrics: metrics))
        hub.paymentProviders = try await PaymentProviders.make(configuration: configuration, store: store)
        return hub
    }
}

/// The same over components the caller made (tests: an open store the caller closes, bcrypt cost 4, and access to
/// metrics, feed and tickets).
package func buildApplication(hub: HubComponents, logger: Logger) -> some ApplicationProtocol {
    HubApplication.build(hub: hub, logger: logger, closing: nil)
}

/// Assembly helpers of the hub application.
package enum HubApplication {
    package static func build(
        hub: HubComponents, logger: Logger, closing close: (@Sendable () -> Void)?, services: [any Service] = []
    ) -> some ApplicationProtocol {
        // Several hubs (an ingest group): each relays its share of the fleet to the others.
        let relay = hub.configuration.ingestGroup.map { _ in
            ClusterRelay(hub: hub.hubID, mqtt: hub.mqtt, feed: hub.feed, metrics: hub.metrics, logger: logger)
        }
        let ingest = IngestService(
            configuration: hub.configuration, store: hub.store, mqtt: hub.mqtt, feed: hub.feed, metrics: hub.metrics,
            logger: logger, orders: hub.notifier, relay: relay, deviceEvents: hub.deviceEvents,
            brokerConnected: hub.brokerConnected, clock: hub.dispatchClock)
        let router = Router(context: HubRequestContext.self)
        addRoutes(to: router, hub: hub)
        let dispatch = addDispatch(store: hub.store, hub: hub, to: router, logger: logger)
        var app = Application(
            // Pings come from each connection's WebSocketKeepalive, not from a task per connection.
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: router, configuration: .init(ws: .init(autoPing: .disabled))),
            configuration: .init(
                address: .hostname(hub.configuration.httpHost, port: hub.configuration.httpPort),
                serverName: "dabba-hub"),
            logger: logger)
        if let close { app.addServices(StoreCloser(close: close)) }
        // The store's own services (stopped before the store closes, after everything that writes).
        for service in services { app.addServices(service) }
        let pruner = PositionPruner(
            store: hub.store, retentionDays: hub.configuration.positionRetentionDays, logger: logger)
        let webhooks = WebhookService(
            settings: .init(hub.configuration), repository: hub.store, bus: hub.notifier.bus, metrics: hub.metrics,
            logger: logger)
        app.addServices(hub.mqtt, ingest, pruner, webhooks, dispatch)
        if hub.runsPaymentReactor { app.addServices(paymentReactor(hub: hub, store: hub.store, logger: logger)) }
        return app
    }

    /// The dispatcher: its service (rounds) and its routes (original delivery endpoints, shifts, offers, decisions).
    static func addDispatch<Store: HubStore>(
        store: Store, hub: HubComponents, to router: Router<HubRequestContext>, logger: Logger
    ) -> any Service {
        let orders = OrderService(store: store, notifier: hub.notifier)
        let settings = DispatchConfiguration(configuration: hub.configuration)
        // Several hubs (an ingest group): rounds run on the lease's holder only.
        let lease = hub.configuration.ingestGroup.map { _ in
            DispatchLease(
                store: store, holder: hub.hubID, length: hub.configuration.dispatchLease, metrics: hub.metrics,
                logger: logger)
        }
        // The policy name was validated with the configuration.
        let dispatcher = try! Dispatcher(
            store: store, orders: orders, settings: settings, metrics: hub.metrics, logger: logger, lease: lease,
            now: hub.dispatchClock)
        DeliveryController(dispatcher: dispatcher, orders: orders).addRoutes(to: router)
        DispatchController(dispatcher: dispatcher).addRoutes(to: router)
        return DispatchService(
            dispatcher: dispatcher, bus: hub.notifier.bus, deviceEvents: hub.deviceEvents.stream,
            brokerConnected: hub.brokerConnected.stream, interval: settings.interval, lease: lease, logger: logger)
    }

    /// The hub's MQTT client settings: a unique client id, credentials and TLS from the configuration.
    static func mqttConfiguration(_ c: HubConfiguration, hubID: String) throws(ConfigError) -> MQTTConfiguration {
        var mqtt = MQTTConfiguration(host: c.mqttHost, port: c.mqttPort, clientID: "dabba-hub-" + hubID)
        mqtt.username = c.mqttUsername
        mqtt.tlsCAFile = c.mqttTLSCA
        if let file = c.mqttPasswordFile {
            do {
                mqtt.password = try MQTTConfiguration.readPasswordFile(file)
            } catch {
                throw ConfigError(key: "mqtt-password-file", message: "mqtt-password-file: \(error)")
            }
        }
        return mqtt
    }

    /// Middleware (outermost first), then every route with the access rule it declares.
    static func addRoutes(to router: Router<HubRequestContext>, hub: HubComponents) {
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: BodyLimitMiddleware(maxBytes: hub.configuration.maxBodyBytes))
        router.add(middleware: BearerAuthMiddleware(auth: hub.auth))

        let store = hub.store
        let probe = DatabaseProbe {
            do {
                _ = try await store.positionCount(agent: "")
                return true
            } catch {
                return false
            }
        }
        SystemController(
            databaseOK: { await probe.answers() },
            brokerConnected: { [mqtt = hub.mqtt] in mqtt.isConnected }, metrics: hub.metrics,
            assets: hub.configuration.assets
        ).addRoutes(to: router)
        AuthController(
            auth: hub.auth, limits: hub.rateLimits, trustedProxies: hub.configuration.trustedProxies
        ).addRoutes(to: router)
        UsersController(auth: hub.auth).addRoutes(to: router)
        WebController(
            assets: hub.configuration.assets, leafletDir: hub.configuration.leafletDir,
            mapTiles: hub.configuration.mapTiles, paymentMethods: hub.configuration.paymentMethods,
            testCards: hub.configuration.paymentProvider == "test"
        ).addRoutes(to: router)
        addAgentRoutes(store: store, cashLimit: hub.configuration.codCashLimit, to: router)
        addMarketRoutes(store: store, hub: hub, to: router)
        addOrderRoutes(store: store, hub: hub, to: router)
        addWebhookRoutes(store: store, configuration: hub.configuration, to: router)
        addPaymentRoutes(store: store, hub: hub, to: router)

        // WebSocket feeds (the upgrade is a GET on the same router).
        FleetLiveController(
            feed: hub.feed, auth: hub.auth, allowedOrigins: hub.configuration.allowedOrigins, metrics: hub.metrics,
            keepalive: hub.webSocketKeepalive, accessRecheck: hub.liveAccessRecheck
        ).addRoutes(to: router)
    }

    private static func addAgentRoutes<Store: HubStore>(
        store: Store, cashLimit: Int64, to router: Router<HubRequestContext>
    ) {
        AgentsController(repository: store, cashLimit: cashLimit).addRoutes(to: router)
    }

    /// Orders (REST) and customers' live feeds (WebSocket, also by share link).
    private static func addOrderRoutes<Store: HubStore>(
        store: Store, hub: HubComponents, to router: Router<HubRequestContext>
    ) {
        let orders = OrderService(store: store, notifier: hub.notifier)
        OrdersController(orders: orders, configuration: hub.configuration).addRoutes(to: router)
        OrderLiveController(
            store: store, orders: orders, feed: hub.feed, bus: hub.notifier.bus, auth: hub.auth,
            allowedOrigins: hub.configuration.allowedOrigins, metrics: hub.metrics,
            estimator: ETAEstimator(detourFactor: Double(hub.configuration.etaDetourPercent) / 100),
            shareGrace: .seconds(60 * hub.configuration.shareGraceMinutes), shareRecheck: hub.shareRecheck,
            accessRecheck: hub.liveAccessRecheck, keepalive: hub.webSocketKeepalive,
            rechecks: OrderFeedRechecks(resolution: min(min(hub.shareRecheck, hub.liveAccessRecheck) / 10, .seconds(1)))
        ).addRoutes(to: router)
    }

    /// Restaurants, menus and zones (browsing public; editing for operators and owning restaurant users).
    private static func addMarketRoutes<Store: HubStore>(
        store: Store, hub: HubComponents, to router: Router<HubRequestContext>
    ) {
        let market = MarketService(repository: store)
        RestaurantsController(market: market).addRoutes(to: router)
        RestaurantLiveController(
            repository: store, bus: hub.notifier.bus, auth: hub.auth, allowedOrigins: hub.configuration.allowedOrigins,
            metrics: hub.metrics, keepalive: hub.webSocketKeepalive, accessRecheck: hub.liveAccessRecheck
        ).addRoutes(to: router)
        MenuController(market: market).addRoutes(to: router)
        ZonesController(market: market).addRoutes(to: router)
    }

    /// Outgoing webhooks: endpoints and their delivery logs (operators, and restaurant users for restaurants they own).
    private static func addWebhookRoutes<Store: HubStore>(
        store: Store, configuration: HubConfiguration, to router: Router<HubRequestContext>
    ) {
        let registry = WebhookRegistry(
            repository: store, egress: WebhookEgress(allow: configuration.webhookAllowHosts),
            maxEndpoints: configuration.webhookMaxEndpoints)
        WebhooksController(registry: registry).addRoutes(to: router)
    }
}

/// Closes a store the application opened, after every other service stopped (the closing is the backend's).
struct StoreCloser: Service {
    let close: @Sendable () -> Void
    func run() async throws {
        try? await gracefulShutdown()
        close()
    }
}
