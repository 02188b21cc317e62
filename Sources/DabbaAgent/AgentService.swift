import DabbaCore
import DabbaGPS
import DabbaMQTT
import Logging
import ServiceLifecycle

/// The daemon's main loop as a `Service`: feeds GPS and MQTT events to the engine, ticks it, speaks sd_notify.
///
/// In the `ServiceGroup` it comes after the MQTT client and before the gpsd reader, so on SIGTERM the reader stops
/// first (handing over its last fix) and the MQTT client last: the service records the last fixes, says STOPPING,
/// publishes the offline state while the broker connection is still up, and returns.
public struct AgentService: Service {
    let engine: AgentEngine
    let mqtt: MQTTClient
    let gps: GPSReader
    let notifier: SystemdNotifier
    let logger: Logger
    let version: String

    public init(
        engine: AgentEngine, mqtt: MQTTClient, gps: GPSReader, notifier: SystemdNotifier, logger: Logger,
        version: String
    ) {
        self.engine = engine
        self.mqtt = mqtt
        self.gps = gps
        self.notifier = notifier
        self.logger = logger
        self.version = version
    }

    /// How long after READY the start-up pages are released once more (see `run()`).
    static let startupSettle = Duration.seconds(60)
    /// How often the heap's free pages are handed back (see ``ResidentMemory/trimHeap()``).
    static let heapTrimInterval = Duration.seconds(60)

    public func run() async throws {
        let tick = min(Duration.seconds(1), (notifier.watchdogInterval ?? .seconds(2)) / 2)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await engine.consume(mqtt.events) }
            group.addTask { for await event in gps.events { await engine.handle(event) } }

            var summary = await engine.tick()
            // Start-up is over: hand the clean pages only start-up needed back to the kernel (a device's RSS budget).
            ResidentMemory.releaseStartupPages()
            let start = await engine.status()
            notifier.ready(status: summary)
            logger.info(
                "dabba-agent started",
                metadata: [
                    "agent.id": "\(start.agent)", "agent.version": "\(version)",
                    "outbox.depth": "\(start.outboxDepth)", "outbox.last_seq": "\(start.lastSeq)",
                ])
            // The first connections' work (MQTT connect and subscriptions, the task sync, gpsd's first fixes and
            // their acks) runs after READY: once it has run, its one-off pages go back too.
            var releaseAgainAt: ContinuousClock.Instant? = .now + Self.startupSettle
            var trimAt = ContinuousClock.now + Self.heapTrimInterval
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                try? await Task.sleep(for: tick)
                let line = await engine.tick()
                notifier.watchdog()
                if let at = releaseAgainAt, ContinuousClock.now >= at {
                    releaseAgainAt = nil
                    ResidentMemory.releaseStartupPages()
                }
                // What a burst freed goes back to the kernel too (RSS stays flat after a drained backlog).
                if ContinuousClock.now >= trimAt {
                    trimAt = .now + Self.heapTrimInterval
                    ResidentMemory.trimHeap()
                }
                if line != summary {
                    summary = line
                    notifier.status(summary)
                }
            }
            notifier.stopping(status: "stopping")
            // The gpsd reader stops before this service: it has handed over a fix still settling and ended its
            // stream. Record everything it delivered (the GPS consumer then finishes; bounded wait) before the
            // offline state goes out, so the last fix is in the outbox after a clean stop.
            group.addTask { try? await Task.sleep(for: .seconds(3)) }
            _ = await group.next()
            await engine.goOffline()
            // Give the offline state a moment to be PUBACKed before the MQTT client disconnects.
            try? await Task.sleep(for: .milliseconds(300))
            group.cancelAll()
        }
        let end = await engine.status()
        await engine.close()
        // The engine's thread stays: the control server (stopped after this service) may still ask it something.
        logger.info(
            "dabba-agent stopped",
            metadata: ["outbox.depth": "\(end.outboxDepth)", "outbox.last_seq": "\(end.lastSeq)"])
    }
}
