import Synchronization

/// One instant per (agent, seq) — when it was published, or when a reader first saw it — as nanoseconds since a
/// common origin. Preallocated; `record` keeps the first instant and counts repeats (QoS 1 may deliver twice).
final class InstantTable: Sendable {
    let agents: Int
    let seqs: Int
    let origin: ContinuousClock.Instant
    private let slots: Mutex<[Int64]>
    private let repeats = Atomic<Int>(0)
    private let outOfRange = Atomic<Int>(0)

    /// Room for agents `0..<agents` and seqs `1...seqs`.
    init(agents: Int, seqs: Int, origin: ContinuousClock.Instant) {
        self.agents = agents
        self.seqs = seqs
        self.origin = origin
        slots = Mutex([Int64](repeating: -1, count: agents * seqs))
    }

    func record(agent: Int, seq: Int, at instant: ContinuousClock.Instant) {
        guard (0..<agents).contains(agent), (1...seqs).contains(seq) else {
            outOfRange.add(1, ordering: .relaxed)
            return
        }
        let d = (instant - origin).components
        let nanos = d.seconds * 1_000_000_000 + d.attoseconds / 1_000_000_000
        let fresh = slots.withLock { s -> Bool in
            let i = agent * seqs + seq - 1
            guard s[i] < 0 else { return false }
            s[i] = nanos
            return true
        }
        if !fresh { repeats.add(1, ordering: .relaxed) }
    }

    /// Repeated receipts of an (agent, seq) already recorded.
    var repeatCount: Int { repeats.load(ordering: .relaxed) }
    /// Records outside the table (agent or seq not published by this run).
    var strayCount: Int { outOfRange.load(ordering: .relaxed) }

    /// What a reader saw of what was published: the latency of each (agent, seq) it received, how many it never
    /// received although it received a later seq of the same agent (merged by coalescing), and how many it never
    /// received with nothing later from that agent either (lost).
    func compare(reader: InstantTable) -> (latenciesMS: [Double], coalesced: Int, lost: Int) {
        let sent = slots.withLock { $0 }
        let seen = reader.slots.withLock { $0 }
        var latencies: [Double] = []
        latencies.reserveCapacity(sent.count)
        var coalesced = 0
        var lost = 0
        for agent in 0..<agents {
            var laterSeen = false
            // Newest first, so "a later seq arrived" is known when an older one is missing.
            for seq in stride(from: seqs, through: 1, by: -1) {
                let i = agent * seqs + seq - 1
                guard sent[i] >= 0 else { continue }
                if seen[i] >= 0 {
                    latencies.append(Double(seen[i] - sent[i]) / 1e6)
                    laterSeen = true
                } else if laterSeen {
                    coalesced += 1
                } else {
                    lost += 1
                }
            }
        }
        return (latencies, coalesced, lost)
    }

    /// Every slot (agent-major, seq 1 first; -1 where nothing was recorded), nanoseconds since `origin`.
    func snapshot() -> [Int64] { slots.withLock { $0 } }

    /// Entries recorded.
    var filled: Int { slots.withLock { $0.count(where: { $0 >= 0 }) } }
}
