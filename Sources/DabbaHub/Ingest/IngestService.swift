import DabbaCore
import DabbaMQTT
import DabbaProtocol
import HubModel
import Logging
import ServiceLifecycle
import Synchronization

/// MQTT ingest: validates agents' fixes, backlog, events and state (and OwnTracks locations), group-commits them
/// idempotently on `(agent, seq)`, then publishes the `…/ack` naming exactly what was committed.
///
/// Nothing is acked before it is durable, so a hub killed at any moment loses nothing the agent deleted; the agent
/// resends whatever was not acked and the store ignores the duplicates (they are acked again). Positions also go to
/// the live feed at once (before the commit), so live views do not wait for the group commit.
package final class IngestService: Service, Sendable {
    let configuration: HubConfiguration
    let store: any HubStore
    let mqtt: MQTTClient
    let feed: FleetFeed
    let metrics: HubMetrics
    let logger: Logger
    let validator: IngestValidator
    /// Order events other hubs publish, relayed to this hub's subscribers.
    let orders: OrderNotifier?
    /// With `ingest-group` set: relays what this hub ingests to the other hubs and takes theirs.
    let relay: ClusterRelay?
    /// Rung after a commit that stored device events.
    let deviceEvents: Signal?
    /// Rung on every (re)connect of the MQTT client (dispatch sends the tasks again).
    let brokerConnected: Signal?
    /// The dispatcher's clock (Unix ms), for when a device was seen (``Offer/seen``).
    let clock: @Sendable () -> Int64
    let pending = Mutex(Pipeline())
    /// Agents heard from since the last flush, with the latest time (see `recordSeen`).
    let seen = Mutex<[String: Int64]>([:])

    /// Received, validated, not yet committed.
    struct PendingBatch {
        var positions: [StoredPosition] = []
        var events: [DeviceEvent] = []
        var count: Int { positions.count + events.count }
    }

    /// The commit pipeline: at most one commit in flight (on the store's thread) and one batch filling behind it.
    struct Pipeline {
        var batch = PendingBatch()
        var inFlight: Task<Void, Never>?
        var generation = 0
    }

    package init(
        configuration: HubConfiguration, store: any HubStore, mqtt: MQTTClient, feed: FleetFeed, metrics: HubMetrics,
        logger: Logger, orders: OrderNotifier? = nil, relay: ClusterRelay? = nil, deviceEvents: Signal? = nil,
        brokerConnected: Signal? = nil, clock: @escaping @Sendable () -> Int64 = { wallClockMilliseconds() }
    ) {
        self.orders = orders
        self.relay = relay
        self.deviceEvents = deviceEvents
        self.brokerConnected = brokerConnected
        self.clock = clock
        self.configuration = configuration
        self.store = store
        self.mqtt = mqtt
        self.feed = feed
        self.metrics = metrics
        self.logger = logger
        self.validator = IngestValidator(owntracksMap: configuration.owntracksMap, metrics: metrics, logger: logger)
        for filter in Self.filters(group: configuration.ingestGroup) { mqtt.subscribe(filter, qos: .atLeastOnce) }
        // Never shared: every hub pushes every order's events to its own WebSocket clients.
        if orders != nil { mqtt.subscribe(Self.orderStatusFilter, qos: .atLeastOnce) }
        // No-local: the broker does not echo this hub's own relay messages back to it (the relay also ignores them).
        if relay != nil { mqtt.subscribe(ClusterRelay.filter, qos: .atLeastOnce, noLocal: true) }
    }

    static let orderStatusFilter = "\(Topics.prefix)/orders/+/status"

    /// The subscriptions: every agent's lanes (and task sync requests) and OwnTracks, as a shared subscription
    /// when a group is set (so exactly one hub answers a sync request).
    static func filters(group: String?) -> [String] {
        let topics =
            ["fix", "backlog", "events", "state", "sync"].map { "\(Topics.prefix)/agents/+/\($0)" } + ["owntracks/+/+"]
        guard let group else { return topics }
        return topics.map { "$share/\(group)/\($0)" }
    }

    package func run() async throws {
        await validator.refreshAgents(from: store, force: true)
        if let agents = try? await store.agents() {
            feed.seed(agents.compactMap(\.last), states: agents.compactMap(\.state))
        }
        metrics.agentsOnline.record(feed.onlineCount)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.receive() }
            group.addTask { await self.commitLoop() }
            group.addTask { await self.seenLoop() }
            if let relay { group.addTask { await relay.run() } }
            try? await gracefulShutdown()
            // Commit what was received before stopping, then let the tasks go.
            await self.commitAll()
            group.cancelAll()
        }
    }

    /// Reads messages from the broker, validates them and queues them for the next commit.
    func receive() async {
        for await event in mqtt.events {
            if case .connected = event { brokerConnected?.ring() }
            guard case .message(let message) = event else { continue }
            if let orders, message.topic.hasPrefix("\(Topics.prefix)/orders/") {
                _ = orders.relayed(message.payload)
                continue
            }
            if let relay, message.topic.hasPrefix(ClusterRelay.topicPrefix) {
                relay.received(message)
                continue
            }
            let result = await validator.validate(message, store: store)
            noteSeen(result)
            switch result {
            case .positions(let positions):
                for p in positions where feed.publish(position: p) { relay?.relay(p) }
                if enqueue({ $0.positions += positions }) { await batchFull() }
            case .event(let event):
                if enqueue({ $0.events.append(event) }) { await batchFull() }
            case .state(let state, let at):
                if feed.publish(state: state, at: at) { relay?.relay(state, at: at) }
                metrics.agentsOnline.record(feed.onlineCount)
                do { try await store.updateState(state, at: at) } catch {
                    logger.error(
                        "Cannot store agent state", metadata: ["agent.id": "\(state.agent)", "error": "\(error)"])
                }
            case .sync(let request):
                await answerSync(request)
            case .rejected:
                break
            }
            if Task.isCancelled { return }
        }
    }

    /// Queues validated rows; true when the batch is full.
    private func enqueue(_ body: (inout PendingBatch) -> Void) -> Bool {
        pending.withLock { pipeline -> Bool in
            body(&pipeline.batch)
            return pipeline.batch.count >= configuration.commitBatch
        }
    }

    /// A full batch: commit it in the background and go on reading, unless a commit is still in flight; then wait
    /// for that one (back-pressure: never more than one commit in flight and one full batch behind it).
    private func batchFull() async {
        while pending.withLock({ $0.batch.count >= configuration.commitBatch }) {
            guard let (running, started) = startCommit() else { return }
            if started { return }
            await running.value
        }
    }

    /// Starts a background commit of the pending batch unless one is in flight. Returns the commit in flight (the
    /// one just started, `started` true, or the one that was already running), nil when idle with nothing pending.
    func startCommit() -> (task: Task<Void, Never>, started: Bool)? {
        pending.withLock { pipeline -> (task: Task<Void, Never>, started: Bool)? in
            if let running = pipeline.inFlight { return (running, false) }
            guard pipeline.batch.count > 0 else { return nil }
            let batch = pipeline.batch
            pipeline.batch = PendingBatch()
            pipeline.generation += 1
            let generation = pipeline.generation
            // The task's last step takes this lock, so it cannot clear `inFlight` before it is set below.
            let task = Task {
                await self.commit(batch)
                self.pending.withLock { if $0.generation == generation { $0.inFlight = nil } }
            }
            pipeline.inFlight = task
            return (task, true)
        }
    }

    /// Commits what arrived every `commitInterval`; when a commit is still in flight, the next one starts as soon
    /// as it ends, with everything that arrived meanwhile (so commits grow with the load).
    func commitLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.commitInterval)
            if let (running, started) = startCommit(), !started {
                await running.value
                _ = startCommit()
            }
        }
    }

    /// Writes which devices were heard from every `commitInterval`, in a loop of its own: a slow or stuck write of
    /// them never holds up the commits (and so the acks) of fixes.
    func seenLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.commitInterval)
            await flushSeen()
        }
    }

    /// Commits everything received so far and waits until no commit is in flight (shutdown).
    func commitAll() async {
        while let (running, _) = startCommit() { await running.value }
    }

    /// One group commit, then the acks for exactly what it committed.
    func commit(_ batch: PendingBatch) async {
        guard batch.count > 0 else { return }
        let started = ContinuousClock.now
        let receipt: StoreReceipt
        do {
            receipt = try await store.store(positions: batch.positions, events: batch.events)
        } catch {
            // Not acked: the agents send these rows again after their ack timeout.
            metrics.ingestRejected("store_failed").increment(by: Int64(batch.count))
            logger.error(
                "Commit failed; nothing acked", metadata: ["ingest.rows": "\(batch.count)", "error": "\(error)"])
            return
        }
        metrics.commitLatency.recordInterval(since: started)
        metrics.ingestCommitted.increment(by: Int64(batch.count))
        let now = wallClockMilliseconds()
        for p in batch.positions { metrics.fixAge.record(Double(now - p.time) / 1000) }
        if !batch.events.isEmpty { deviceEvents?.ring() }
        report(conflicts: receipt.conflicts)
        for (agent, seqs) in receipt.committed {
            let ack = AckMessage(agent: agent, ranges: AckMessage.ranges(of: seqs))
            do {
                _ = try mqtt.publish(topic: Topics.ack(agent: agent), payload: ack.jsonBytes(), qos: .atLeastOnce)
            } catch {
                // Committed but not acked: the agent resends after its ack timeout and is acked then. Counted.
                metrics.ingestAckFailures.increment()
                logger.warning(
                    "Cannot publish an ack; the agent will resend those rows",
                    metadata: ["agent.id": "\(agent)", "ack.ranges": "\(ack.seqs.count)", "error": "\(error)"])
            }
        }
    }
}

extension CoreMetricsTimer {
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds(Int64(((ContinuousClock.now - start).timeInterval * 1e9).rounded()))
    }
}
