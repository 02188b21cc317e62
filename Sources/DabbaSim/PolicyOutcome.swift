import DabbaDispatch

/// What one policy achieved over a simulated day.
public struct PolicyOutcome: Sendable {
    public var policy: String
    public var delivered: Int
    public var timedOut: Int
    /// Placed → delivered, seconds, over delivered orders.
    public var doorMean: Double
    public var doorP95: Double
    /// Placed → accepted by an agent, seconds, over assigned orders.
    public var waitMean: Double
    /// Busy time (assignment → last drop) over the fleet's time on shift.
    public var utilisation: Double
    /// Gini coefficient of deliveries per hour on shift, over the agents (0 = all equal).
    public var gini: Double

    init(
        policy: String, day: SimDay, assignedAt: [Int64?], deliveredAt: [Int64?], timedOut: Int, deliveries: [Int],
        busyMilliseconds: [Int64], shiftMilliseconds: [Int64]
    ) {
        self.policy = policy
        var door: [Double] = []
        var wait: [Double] = []
        for (o, order) in day.orders.enumerated() {
            if let at = deliveredAt[o] { door.append(Double(at - order.placedAt) / 1000) }
            if let at = assignedAt[o] { wait.append(Double(at - order.placedAt) / 1000) }
        }
        delivered = door.count
        self.timedOut = timedOut
        doorMean = door.isEmpty ? 0 : door.reduce(0, +) / Double(door.count)
        doorP95 = PolicyOutcome.percentile(door, 95)
        waitMean = wait.isEmpty ? 0 : wait.reduce(0, +) / Double(wait.count)
        let shift = Double(max(1, shiftMilliseconds.reduce(0, +)))
        utilisation = Double(busyMilliseconds.reduce(0, +)) / shift
        gini = PolicyOutcome.gini(
            zip(deliveries, shiftMilliseconds).map { Double($0) / Double(max(1, $1)) * 3_600_000 })
    }

    /// Nearest-rank percentile.
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(sorted.count - 1, max(0, rank))]
    }

    /// G = Σ (2i − n − 1)·x_i / (n·Σx) over x sorted ascending, i = 1…n.
    static func gini(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let n = Double(sorted.count)
        let total = sorted.reduce(0, +)
        guard total > 0 else { return 0 }
        var sum = 0.0
        for (index, x) in sorted.enumerated() { sum += (2 * Double(index + 1) - n - 1) * x }
        return sum / (n * total)
    }
}

/// The comparison `dabba-sim policies` prints.
public enum PolicyComparison {
    /// Runs the day through each policy (in the given order); with `deliveriesOnly`, least-recent also as it was
    /// before issue 14 (by last delivery alone), after the policies.
    public static func run(
        _ configuration: SimDayConfiguration, policies: [String], settings: DispatchSettings,
        deliveriesOnly: Bool = false
    ) -> [PolicyOutcome] {
        let day = SimDay.generate(configuration)
        var outcomes = policies.compactMap { name in
            DispatchPolicies.make(name, settings: settings).map { PolicySimulation(day: day, policy: $0).run() }
        }
        if deliveriesOnly, let policy = DispatchPolicies.make("least-recent", settings: settings) {
            outcomes.append(PolicySimulation(day: day, policy: policy, deliveriesOnly: true).run())
        }
        return outcomes
    }

    /// The printed table: one line per policy, then the goals where the three default policies ran.
    public static func report(_ configuration: SimDayConfiguration, outcomes: [PolicyOutcome]) -> String {
        let wide = max(0, (outcomes.map(\.policy.count).max() ?? 0) + 1 - 13)
        var lines = [
            "dabba-sim policies: seed \(configuration.seed), \(configuration.agents) agents, "
                + "\(configuration.restaurants) restaurants, \(configuration.orders) orders 08:00–23:00 "
                + "(lunch and dinner peaks), rounds every \(configuration.roundSeconds) s; "
                + "\(percent(configuration.splitShiftShare)) % of agents on split shifts, "
                + "\(percent(configuration.lateStartShare)) % starting late; offers rejected "
                + "\(percent(configuration.rejectRate)) %, let lapse \(percent(configuration.lapseRate)) % "
                + "(\(configuration.offerTimeoutSeconds) s)",
            pad("policy", 13 + wide) + pad("delivered", 10) + pad("timed out", 10) + pad("door mean", 11)
                + pad("door p95", 11)
                + pad("wait mean", 11) + pad("utilisation", 12) + "gini",
        ]
        for outcome in outcomes {
            lines.append(
                pad(outcome.policy, 13 + wide) + pad("\(outcome.delivered)", 10) + pad("\(outcome.timedOut)", 10)
                    + pad(minutes(outcome.doorMean), 11) + pad(minutes(outcome.doorP95), 11)
                    + pad(minutes(outcome.waitMean), 11) + pad(fixed(100 * outcome.utilisation, 1) + " %", 12)
                    + fixed(outcome.gini, 3))
        }
        let byName = Dictionary(outcomes.map { ($0.policy, $0) }, uniquingKeysWith: { a, _ in a })
        if let batch = byName["batch"], let recent = byName["least-recent"] {
            let lower = 100 * (recent.doorMean - batch.doorMean) / recent.doorMean
            lines.append(
                "batch vs least-recent: door time \(fixed(lower, 1)) % lower (goal ≥ 25 %), Gini "
                    + "\(fixed(batch.gini, 4)) vs \(fixed(recent.gini, 4)) (goal: no worse)")
        }
        if let batch = byName["batch"], let nearest = byName["nearest"] {
            let lower = nearest.gini > 0 ? 100 * (nearest.gini - batch.gini) / nearest.gini : 0
            let more = 100 * (batch.doorMean - nearest.doorMean) / nearest.doorMean
            lines.append(
                "batch vs nearest: Gini \(fixed(lower, 1)) % lower (goal ≥ 30 %), door time \(fixed(more, 1)) % "
                    + "more (goal ≤ 5 %)")
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(1, width - text.count))
    }

    static func minutes(_ seconds: Double) -> String { fixed(seconds / 60, 1) + " min" }

    static func percent(_ share: Double) -> String { fixed(100 * share, 0) }

    /// `value` with `digits` decimals, without Foundation.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled) - whole * Int(scale)
        let sign = value < 0 && scaled > 0 ? "-" : ""
        return digits == 0 ? sign + "\(whole)" : sign + "\(whole)." + padded(fraction, digits)
    }
}
