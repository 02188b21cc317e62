import DabbaMQTT
import Logging
import ServiceLifecycle

/// MQTT ingest: validates agents' fixes, backlog, events and state, group-commits them, then acks. (In progress.)
public final class IngestService: Service, Sendable {
    let configuration: HubConfiguration
    let store: any HubStore
    let mqtt: MQTTClient
    let feed: FleetFeed
    let metrics: HubMetrics
    let logger: Logger

    public init(
        configuration: HubConfiguration, store: any HubStore, mqtt: MQTTClient, feed: FleetFeed, metrics: HubMetrics,
        logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.mqtt = mqtt
        self.feed = feed
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        try await gracefulShutdown()
    }
}
