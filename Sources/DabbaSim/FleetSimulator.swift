import DabbaCore
import DabbaMQTT
import DabbaProtocol
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `dabba-sim fleet`: N simulated riders on one broker, each with its own MQTT connection as a device has (its
/// retained state, the Last Will, its tasks topic), ticking once a second (spread over the second, as independent
/// devices are): fixes along their rides, shift start, and answers, pickups and deliveries for the offers the hub
/// makes.
public final class FleetSimulator: Sendable {
    /// What the fleet did so far.
    public struct Counters: Sendable, Equatable {
        public var offers = 0
        public var accepted = 0
        public var rejected = 0
        public var pickups = 0
        public var deliveries = 0
        public var cancelled = 0
        public var fixes = 0
        public var publishFailures = 0
        public var malformedTasks = 0
    }

    public struct Options: Sendable {
        public var agents: [String]
        public var host = "127.0.0.1"
        public var port = 1883
        public var username: String?
        public var password: String?
        public var centre = (lat: 22.3149, lon: 87.3105)
        /// Riders start spread uniformly within this many metres of the centre.
        public var spreadMetres = 2000.0
        public var behaviour = SimAgentBehaviour()
        public var seed: UInt64 = 1
        public var tick: Duration = .seconds(1)

        public init(agents: [String]) { self.agents = agents }
    }

    let options: Options
    let clients: [String: MQTTClient]
    let agents: Mutex<[String: SimAgent]>
    let random: Mutex<SplitMix64>
    let counters = Mutex(Counters())
    let stopping = Atomic<Bool>(false)
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
        var random = SplitMix64(seed: options.seed)
        // Seqs start at the wall clock in ms: a later run's seqs are above an earlier run's (the hub ignores a seq it
        // has seen), as long as a run sends fewer messages per agent than it lasts in milliseconds.
        let firstSeq = wallClockMilliseconds()
        var agents: [String: SimAgent] = [:]
        var clients: [String: MQTTClient] = [:]
        for id in options.agents {
            let bearing = Double.random(in: 0..<360, using: &random) * .pi / 180
            let distance = options.spreadMetres * Double.random(in: 0...1, using: &random).squareRoot()
            // Its home: a point `distance` metres from the centre on `bearing`.
            let home = Route.offset(options.centre, north: cos(bearing) * distance, east: sin(bearing) * distance)
            agents[id] = SimAgent(
                id: id, lat: home.lat, lon: home.lon, firstSeq: firstSeq, behaviour: options.behaviour)
            var configuration = MQTTConfiguration(host: options.host, port: options.port, clientID: "dabba-sim-\(id)")
            configuration.username = options.username
            configuration.password = options.password
            configuration.maxBackoff = .seconds(5)
            configuration.will = MQTTMessage(
                topic: Topics.state(agent: id), payload: PayloadCoding.encode(AgentState(agent: id, online: false)),
                qos: .atLeastOnce, retain: true)
            let client = MQTTClient(configuration: configuration, logger: logger)
            client.subscribe(Topics.tasks(agent: id), qos: .atLeastOnce)
            clients[id] = client
        }
        self.clients = clients
        self.agents = Mutex(agents)
        self.random = Mutex(random)
    }

    /// The counters now.
    public var snapshot: Counters { counters.withLock { $0 } }

    /// Runs until cancelled or `duration` has passed; then ends every shift and says the riders went offline.
    public func run(duration: Duration?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (id, client) in clients {
                group.addTask { try await client.run() }
                group.addTask { await self.listen(id, client) }
            }
            group.addTask {
                try await self.drive(duration: duration)
                for client in self.clients.values { client.shutdown() }
            }
            try await group.next()
            try await group.waitForAll()
        }
    }

    /// Ends the run at the next tick: shifts end, the riders say they are offline, the connections close.
    public func stop() { stopping.store(true, ordering: .relaxed) }

    func listen(_ id: String, _ client: MQTTClient) async {
        for await event in client.events {
            switch event {
            case .connected:
                // Online (retained, as the device's state), then on shift: both again after every reconnection.
                let now = wallClockMilliseconds()
                publish(
                    id, Topics.state(agent: id), AgentState(agent: id, online: true, gps: "fix", mode: 3), retain: true)
                let started = agents.withLock { $0[id]?.shift(.shiftStarted, now: now) }
                if let started { publish(id, Topics.events(agent: id), started) }
            case .message(let message):
                guard let task = try? PayloadCoding.decode(TaskMessage.self, from: message.payload), task.agent == id
                else {
                    counters.withLock { $0.malformedTasks += 1 }
                    continue
                }
                let now = wallClockMilliseconds()
                random.withLock { random in
                    agents.withLock { $0[id]?.receive(task, now: now, random: &random) }
                }
                counters.withLock {
                    switch task.type {
                    case .offer: $0.offers += 1
                    case .cancelled: $0.cancelled += 1
                    case .assigned: break
                    }
                }
            case .publishFailed:
                counters.withLock { $0.publishFailures += 1 }
            default:
                continue
            }
        }
    }

    /// One tick a second for every rider, what it reports going out on its own connection. The riders' ticks are
    /// spread evenly over the second in ``tickSlices`` groups, as independent devices' fixes are, not sent as one
    /// burst (a burst of N fixes would queue every other agent's fix behind it at the broker and the hub).
    func drive(duration: Duration?) async throws {
        let clock = ContinuousClock()
        let end = duration.map { clock.now + $0 }
        var next = clock.now
        let seconds = Double(options.tick.components.seconds) + Double(options.tick.components.attoseconds) / 1e18
        let ids = options.agents.sorted()
        let slices = max(1, min(ids.count, Self.tickSlices))
        while !Task.isCancelled, !stopping.load(ordering: .relaxed) {
            if let end, clock.now >= end { break }
            let tickStart = next
            next = next + options.tick
            for slice in 0..<slices {
                if slice > 0 { try await Task.sleep(until: tickStart + options.tick * slice / slices, clock: clock) }
                let group = stride(from: slice, to: ids.count, by: slices).map { ids[$0] }
                publish(outputs: tickRiders(group, seconds: seconds))
            }
            try await Task.sleep(until: next, clock: clock)
        }
        // The end of the shift, then offline (the Will would say it too, but only after the keepalive).
        let now = wallClockMilliseconds()
        for id in options.agents {
            guard let ended = agents.withLock({ $0[id]?.shift(.shiftEnded, now: now) }) else { continue }
            publish(id, Topics.events(agent: id), ended)
            publish(id, Topics.state(agent: id), AgentState(agent: id, online: false), retain: true)
        }
        try await Task.sleep(for: .milliseconds(500))
    }

    /// How many groups a tick's riders are spread over (at most one per rider).
    static let tickSlices = 50

    /// Ticks `ids` now: what each rider reports.
    func tickRiders(_ ids: [String], seconds: Double) -> [(String, [SimAgent.Output])] {
        let now = wallClockMilliseconds()
        return random.withLock { random in
            agents.withLock { all in
                ids.compactMap { id in
                    all[id] == nil ? nil : (id, all[id]!.tick(now: now, seconds: seconds, random: &random))
                }
            }
        }
    }

    /// Publishes what riders reported on their own connections (those connected), counting it.
    func publish(outputs: [(String, [SimAgent.Output])]) {
        for (id, messages) in outputs where clients[id]?.isConnected == true {
            for message in messages {
                switch message {
                case .fix(let fix):
                    publish(id, Topics.fix(agent: id), fix)
                    counters.withLock { $0.fixes += 1 }
                case .event(let event):
                    publish(id, Topics.events(agent: id), event)
                    counters.withLock {
                        switch event.type {
                        case .accepted: $0.accepted += 1
                        case .rejected: $0.rejected += 1
                        case .pickedUp: $0.pickups += 1
                        case .delivered: $0.deliveries += 1
                        case .shiftStarted, .shiftEnded: break
                        }
                    }
                }
            }
        }
    }

    func publish(_ id: String, _ topic: String, _ value: some Encodable, retain: Bool = false) {
        do {
            _ = try clients[id]?.publish(
                topic: topic, payload: PayloadCoding.encode(value), qos: .atLeastOnce, retain: retain)
        } catch {
            counters.withLock { $0.publishFailures += 1 }
        }
    }
}
