import DabbaCore
import DabbaMQTT
import DabbaProtocol
import Logging
import Synchronization

/// A contract-following stand-in for the hub's ack loop: subscribes to every agent's fix, backlog and events
/// lanes, "commits" what it sees (in memory), and publishes `…/ack` with those seqs as ranges.
///
/// Used by the demo before a hub runs, by tests and by the benchmarks. It can drop acks (`ackEvery`) to exercise
/// the agent's resend-after-timeout path.
public final class Acker: Sendable {
    /// Everything it received, per agent: seq → how many times.
    public let received = Mutex<[String: [Int64: Int]]>([:])
    /// The first payload seen for each (agent, seq), to detect a seq reused for a different fix.
    public let fixes = Mutex<[String: [Int64: Fix]]>([:])
    /// Times a seq arrived again with a different fix (a reused seq: must stay 0).
    public let conflicts = Atomic<Int>(0)
    /// Messages in arrival order (topic, seqs), for lane-order assertions.
    public let arrivals = Mutex<[(topic: String, seqs: [Int64])]>([])
    public let malformed = Atomic<Int>(0)
    let client: MQTTClient
    let acking: Atomic<Bool>
    let logger: Logger

    public init(host: String, port: Int, clientID: String = "dabba-acker", ack: Bool = true, logger: Logger) {
        var configuration = MQTTConfiguration(host: host, port: port, clientID: clientID)
        configuration.maxBackoff = .seconds(1)
        configuration.maxInflight = 100
        client = MQTTClient(configuration: configuration, logger: logger)
        acking = Atomic(ack)
        self.logger = logger
        for lane in ["fix", "backlog", "events"] {
            client.subscribe("\(Topics.prefix)/agents/+/\(lane)", qos: .atLeastOnce)
        }
    }

    /// Turns acking on or off (off: the agent's rows stay until its ack timeout and are resent).
    public func setAcking(_ on: Bool) { acking.store(on, ordering: .relaxed) }

    /// Runs until cancelled.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.client.run() }
            for await event in client.events {
                guard case .message(let message) = event else { continue }
                handle(message)
            }
        }
    }

    public func shutdown() { client.shutdown() }

    /// True once the broker granted the subscriptions of the current session.
    public var isSubscribed: Bool { client.isSubscribed }

    func handle(_ message: MQTTMessage) {
        guard let (agent, lane) = Topics.parseAgentTopic(message.topic) else { return }
        var seqs: [Int64] = []
        var decoded: [Fix] = []
        do {
            switch lane {
            // The hub's own decoders (their fast paths accept what JSONDecoder accepts, with the same values): a
            // benchmark's acker shares the agent's two cores and should cost what the hub's ingest costs.
            case "fix": decoded = [try Fix.parse(message.payload)]
            case "backlog": decoded = try BacklogMessage.parse(message.payload).fixes
            case "events": seqs = [try PayloadCoding.decode(AgentEvent.self, from: message.payload).seq]
            default: return
            }
        } catch {
            malformed.add(1, ordering: .relaxed)
            return
        }
        seqs += decoded.map(\.seq)
        fixes.withLock { all in
            for fix in decoded {
                if let earlier = all[agent]?[fix.seq] {
                    if earlier != fix { conflicts.add(1, ordering: .relaxed) }
                } else {
                    all[agent, default: [:]][fix.seq] = fix
                }
            }
        }
        received.withLock { all in for s in seqs { all[agent, default: [:]][s, default: 0] += 1 } }
        arrivals.withLock { $0.append((message.topic, seqs)) }
        guard acking.load(ordering: .relaxed) else { return }
        let ack = AckMessage(agent: agent, ranges: AckMessage.ranges(of: seqs))
        _ = try? client.publish(topic: Topics.ack(agent: agent), payload: ack.jsonBytes(), qos: .atLeastOnce)
    }

    /// Distinct seqs received from `agent`.
    public func seqs(of agent: String) -> Set<Int64> { Set(received.withLock { $0[agent]?.keys.map { $0 } ?? [] }) }
}
