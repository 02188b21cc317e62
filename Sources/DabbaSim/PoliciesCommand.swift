import ArgumentParser
import DabbaDispatch

/// `dabba-sim policies`: the offline comparison of the dispatch policies over one generated day.
public struct PoliciesCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "policies",
        abstract: "Run a generated day (city, agents, orders with lunch and dinner peaks) through each dispatch policy."
    )
    @Option(help: "Random seed (same seed, same day, same output).") var seed: UInt64 = 1
    @Option(help: "Agents.") var agents = 120
    @Option(help: "Restaurants.") var restaurants = 60
    @Option(help: "Orders in the day.") var orders = 1800
    @Option(help: "Seconds between dispatch rounds.") var round = 10
    @Option(help: "Comma-separated policies (batch, least-recent, nearest).") var policies =
        "least-recent,nearest,batch"
    @Option(help: "Batch fairness weight (cost seconds per idle second).") var fairnessWeight: Double?
    @Option(help: "Batch early-arrival weight.") var earlyWeight: Double?
    @Option(help: "Batch late-arrival weight.") var lateWeight: Double?
    @Flag(help: "Also run least-recent by last delivery alone (the rule before shift starts and lapses counted).")
    var deliveriesOnly = false
    public init() {}

    public func validate() throws {
        guard agents > 0, restaurants > 0, orders >= 0, round > 0 else {
            throw ValidationError("--agents, --restaurants and --round must be positive")
        }
        for name in policies.split(separator: ",") where !DispatchPolicies.names.contains(String(name)) {
            throw ValidationError(
                "unknown policy \(name); expected one of \(DispatchPolicies.names.joined(separator: ", "))")
        }
    }

    public func run() throws {
        var day = SimDayConfiguration()
        day.seed = seed
        day.agents = agents
        day.restaurants = restaurants
        day.orders = orders
        day.roundSeconds = round
        var settings = DispatchSettings()
        if let fairnessWeight { settings.fairnessWeight = fairnessWeight }
        if let earlyWeight { settings.earlyWeight = earlyWeight }
        if let lateWeight { settings.lateWeight = lateWeight }
        let names = policies.split(separator: ",").map(String.init)
        let outcomes = PolicyComparison.run(day, policies: names, settings: settings, deliveriesOnly: deliveriesOnly)
        print(PolicyComparison.report(day, outcomes: outcomes))
    }
}
