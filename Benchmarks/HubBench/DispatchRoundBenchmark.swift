import DabbaCore
import DabbaDispatch
import DabbaHub
import DabbaHubServer
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HubModel
import HubSQLite
import Logging

/// The hub's whole dispatch round, as `DispatchService` runs it: device events, stale offers, agents gone offline,
/// then the waiting orders — the store's reads (queue, agents, loads, pending offers, restaurants, exclusions, cash
/// exposures), the policy, and per offer the conditional `createOffer` transaction, the decision row and the publish
/// of the offer to the agent's tasks topic on a real mosquitto. The market: `orders` confirmed cash-on-delivery
/// orders from 200 restaurants in a 12 km × 12 km city, placed in the last 10 minutes and accepted with a
/// preparation time of 5–30 minutes (as kitchens quote them), `agents` agents on shift and online with a fix of
/// now, in a SQLite store as the hub opens it. Every round starts from the same state: the offers the previous round made
/// are withdrawn (untimed), so each round offers the same waiting orders again.
///
/// Baseline, same run and same inputs: the policy alone (`assign` on the orders and agents the round builds).
/// Diagnostic: the policy alone on the same orders all ready at one instant (every kitchen quoting the same time at
/// the same moment), the input that makes the batch policy's costs flattest.
enum DispatchRoundBenchmark {
    struct Configuration {
        var orders: Int
        var agents: Int
        var rounds: Int
        var policy: String
    }

    struct Result {
        var roundMilliseconds: [Double] = []
        /// The hub's own timings of each round's steps (``Dispatcher/lastRoundTimings``), ms.
        var phaseMilliseconds: [DispatchRoundTimings.Phase: [Double]] = [:]
        var algorithmMilliseconds: [Double] = []
        /// The batch policy's own split of those (candidate lists, matching, pricing).
        var algorithmProfiles: [BatchRoundProfile] = []
        var oneReadyTimeMilliseconds: [Double] = []
        var offersPerRound: [Int] = []
        var published = 0
        var setupSeconds = 0.0
    }

    static func run(_ c: Configuration, directory: TestDirectory) async throws -> Result {
        // The hub's shipped log level (`log-level`, default info), to stderr as `serve` logs: what a round logs is part
        // of its time (one line per offer at info made the publish step 8 → 23 ms).
        var logger = Logger(label: "bench-dispatch-round")
        logger.logLevel = .info
        let broker = try await MosquittoBroker.started(directory: directory, extraConfig: IngestBenchmark.brokerConfig)
        defer { broker.stop() }
        let path = directory.path("dispatch.db")
        let configuration = try HubConfiguration.make([
            "database": "sqlite:" + path, "dispatch-policy": c.policy, "mqtt-port": "\(broker.port)",
            "payment-provider": "test",
        ])
        let store = try SQLiteHubStore(path: path, logger: logger)
        defer { store.close() }
        // As `dabba-hub serve` runs it: the WAL copied into the file in the background, not by the round's commits.
        let checkpoints = StoreCheckpoints(
            checkpointer: try SQLiteCheckpointer(path: path), metrics: HubMetrics(), logger: logger)
        let checkpointing = Task { try await checkpoints.run() }
        defer { checkpointing.cancel() }
        var result = Result()
        let setupStart = ContinuousClock.now
        let now = wallClockMilliseconds()
        let capacity = DispatchConfiguration(configuration: configuration).capacity
        let (orders, agents) = try await prepare(c, capacity: capacity, store: store, now: now)
        result.setupSeconds = (ContinuousClock.now - setupStart).seconds

        // The hub's MQTT client on the broker (offers are published to the agents' tasks topics).
        let mqtt = MQTTClient(
            configuration: MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "bench-dispatch"),
            logger: logger)
        let running = Task { try await mqtt.run() }
        defer { running.cancel() }
        try await waitUntil("the hub's MQTT client connected", timeout: .seconds(30)) { mqtt.isConnected }
        let metrics = HubMetrics()
        let notifier = OrderNotifier(bus: OrderEventBus(), mqtt: mqtt, logger: logger, metrics: metrics)
        // The round's clock stands still at the fixes' time: every round sees the same fresh fleet.
        let dispatcher = try Dispatcher(
            store: store, orders: OrderService(store: store, notifier: notifier),
            settings: DispatchConfiguration(configuration: configuration), metrics: metrics, logger: logger,
            now: { now + 1_000 })
        let policy = DispatchPolicies.make(c.policy, settings: DispatchSettings())!

        for round in 0..<c.rounds {
            let clock = ContinuousClock()
            let started = clock.now
            await dispatcher.round()
            result.roundMilliseconds.append((clock.now - started).inMilliseconds)
            let timings = await dispatcher.lastRoundTimings
            for phase in DispatchRoundTimings.Phase.allCases {
                result.phaseMilliseconds[phase, default: []].append(timings[phase].inMilliseconds)
            }
            let pending = try await store.pendingOffers()
            result.offersPerRound.append(pending.count)
            result.published += pending.filter { $0.sent != nil }.count
            guard !pending.isEmpty else { throw BenchError("round \(round) made no offer") }
            // The same work on its own: the policy over the orders and agents the round saw.
            let algorithmStart = clock.now
            let decisions: [DispatchDecision]
            if let batch = policy as? BatchPolicy {
                // The same call, with where its time went.
                let profiled = batch.assignProfiled(orders: orders, agents: agents, now: now + 1_000)
                decisions = profiled.decisions
                result.algorithmProfiles.append(profiled.profile)
            } else {
                decisions = policy.assign(orders: orders, agents: agents, now: now + 1_000)
            }
            result.algorithmMilliseconds.append((clock.now - algorithmStart).inMilliseconds)
            let sameReady = orders.map { order -> DispatchOrder in
                var order = order
                order.readyAt = now + 600_000
                return order
            }
            let flatStart = clock.now
            _ = policy.assign(orders: sameReady, agents: agents, now: now + 1_000)
            result.oneReadyTimeMilliseconds.append((clock.now - flatStart).inMilliseconds)
            guard decisions.count == orders.count else { throw BenchError("policy decided \(decisions.count) orders") }
            // Untimed: back to the starting state.
            for offer in pending {
                _ = try await store.closeOffer(order: offer.order, agent: offer.agent, state: .withdrawn, reason: nil)
            }
        }
        return result
    }

    /// The market in the store, and the same orders and agents as the policy takes them.
    static func prepare(_ c: Configuration, capacity: Int, store: SQLiteHubStore, now: Int64) async throws
        -> ([DispatchOrder], [DispatchAgent])
    {
        var random = SplitMix64(seed: 2026_12_07)
        func point() -> GeoPoint {
            GeoPoint(
                lat: 22.3149 + Double.random(in: -0.054...0.054, using: &random),
                lon: 87.3105 + Double.random(in: -0.058...0.058, using: &random))
        }
        let owner = try await store.createUser(
            email: "owner@bench.invalid", passwordHash: "-", name: "Owner", role: .restaurant, agentID: nil)
        let customer = try await store.createUser(
            email: "customer@bench.invalid", passwordHash: "-", name: "Customer", role: .customer, agentID: nil)
        _ = try await store.createZone(
            Zone(
                id: "z-city", name: "City",
                polygon: [
                    .init(lat: 22.2, lon: 87.2), .init(lat: 22.2, lon: 87.4), .init(lat: 22.4, lon: 87.4),
                    .init(lat: 22.4, lon: 87.2),
                ],
                deliveryFee: 4_000, currency: "INR"))
        let allWeek = try PreparedMarket.allWeekHours()
        var places: [GeoPoint] = []
        for r in 0..<200 {
            let place = point()
            places.append(place)
            _ = try await store.createRestaurant(
                Restaurant(
                    id: "r-\(r)", name: "Kitchen \(r)", address: "\(r) Station Road", location: place,
                    ownerUserID: owner.id, currency: "INR", hours: allWeek))
        }
        var orders: [DispatchOrder] = []
        for i in 0..<c.orders {
            let r = Int.random(in: 0..<places.count, using: &random)
            let drop = point()
            let line = OrderLine(itemID: "i-thali", name: "Thali", quantity: 1, unitPrice: 18_000, options: [])
            let created = now - Int64.random(in: 0...600_000, using: &random)
            let order = OrderRecord(
                id: "o-\(i)", customerID: customer.id, restaurantID: "r-\(r)", paymentMethod: .cod, currency: "INR",
                subtotal: 18_000, deliveryFee: 4_000, tax: 1_100, total: 23_100, address: "Flat \(i)",
                dropLat: drop.lat, dropLon: drop.lon, zoneID: "z-city", createdAt: created, updatedAt: created,
                lines: [line])
            _ = try await store.createOrder(order, idempotencyKey: nil, requestHash: nil, actor: "customer:1")
            let (accepted, _) = try await store.applyOrderChange(
                OrderChange(
                    action: .accept, actor: "restaurant:\(owner.id)",
                    prepMinutes: Int.random(in: 5...30, using: &random)),
                to: order.id)
            orders.append(
                DispatchOrder(
                    id: order.id, restaurantID: order.restaurantID,
                    pickup: GeoCoordinate(lat: places[r].lat, lon: places[r].lon), zoneID: "z-city",
                    placedAt: created,
                    readyAt: accepted.readyAt ?? (accepted.updatedAt + Int64(accepted.prepMinutes ?? 15) * 60_000)))
        }
        var agents: [DispatchAgent] = []
        var positions: [StoredPosition] = []
        for i in 0..<c.agents {
            let id = BenchAgent.id(i)
            let at = point()
            let speed = Bool.random(using: &random) ? Double.random(in: 3...9, using: &random) : nil
            _ = try await store.createAgent(id: id, name: "Rider \(i)")
            try await store.setShift(agent: id, onShift: true)
            try await store.updateState(AgentState(agent: id, online: true), at: now)
            positions.append(StoredPosition(agent: id, seq: 1, time: now, lat: at.lat, lon: at.lon, speed: speed))
            agents.append(
                DispatchAgent(
                    id: id, position: GeoCoordinate(lat: at.lat, lon: at.lon), lastDeliveryAt: nil, load: 0,
                    capacity: capacity, carryingFrom: nil, zones: nil, speed: speed, shiftStartedAt: now,
                    lastLapseAt: nil))
        }
        for chunk in stride(from: 0, to: positions.count, by: 1000) {
            _ = try await store.store(
                positions: Array(positions[chunk..<min(chunk + 1000, positions.count)]), events: [])
        }
        return (orders, agents)
    }
}
