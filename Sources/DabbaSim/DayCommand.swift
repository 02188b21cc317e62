import ArgumentParser
import DabbaCore
import Foundation

/// `dabba-sim day`: customers and kitchens over the REST API at an order rate; reports how the orders went.
public struct DayCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "day",
        abstract: "Play customers and kitchens over the hub's REST API at an order rate, then report how it went.",
        discussion: """
            Customers sim-customer-N@dabba.sim (registered on first use) order from the restaurants open now, to \
            points within --radius metres of each (another point when the hub says the address is not served), \
            paying cash on delivery or by the test provider's card. An operator account plays the kitchens: it \
            accepts each order after --accept-delay seconds with a preparation time from --prep, starts preparing, \
            and marks it ready when that time is up. Dispatch and the riders (dabba-sim fleet, or devices) do the \
            rest. After --duration seconds of orders it waits up to --settle seconds for them to finish and prints: \
            orders placed and how they ended, order-to-door time (placed → delivered), the wait for an agent \
            (confirmed → assigned), offers per order, and the Gini coefficient of the delivery fees each agent on \
            shift earned — the dispatch policy the hub runs, measured on the running system.
            """)

    @Option(help: "The hub's base URL.") var hub = "http://127.0.0.1:8080"
    @Option(name: .customLong("operator-email"), help: "An operator account (plays the kitchens, reads the trails).")
    var operatorEmail: String
    @Option(name: .customLong("operator-password-file"), help: "File holding the operator's password.")
    var operatorPasswordFile: String
    @Option(help: "Customers to order as.") var customers = 10
    @Option(help: "Orders per minute.") var rate = 6.0
    @Option(help: "Seconds of placing orders.") var duration = 600
    @Option(help: "Seconds, after the last order, for orders to finish before the report.") var settle = 1800
    @Option(help: "Preparation minutes, as MIN-MAX.") var prep = "2-5"
    @Option(name: .customLong("accept-delay"), help: "Seconds before the kitchen accepts, as MIN-MAX.")
    var acceptDelay = "2-10"
    @Option(help: "cod, card (the test provider's 4242…) or mixed.") var payment = "cod"
    @Option(help: "Drop-off points lie within this many metres of the restaurant.") var radius = 2000.0
    @Option(help: "Random seed.") var seed: UInt64 = 1
    public init() {}

    public func validate() throws {
        guard let url = URL(string: hub), ["http", "https"].contains(url.scheme ?? "") else {
            throw ValidationError("--hub must be an http(s) URL")
        }
        guard (1...1000).contains(customers) else { throw ValidationError("--customers must be 1…1000") }
        guard rate > 0, rate <= 6000 else { throw ValidationError("--rate must be above 0 and at most 6000") }
        guard (1...604_800).contains(duration), (0...86_400).contains(settle) else {
            throw ValidationError("--duration must be 1…604800 and --settle 0…86400 seconds")
        }
        guard DaySimulator.Payment(rawValue: payment) != nil else {
            throw ValidationError("--payment must be cod, card or mixed")
        }
        guard (10...100_000).contains(radius) else { throw ValidationError("--radius must be 10…100000 metres") }
        _ = try FleetCommand.range(prep, "prep", in: 0...240)
        _ = try FleetCommand.range(acceptDelay, "accept-delay", in: 0...3600)
    }

    public func run() async throws {
        let password = try String(contentsOfFile: operatorPasswordFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var options = DaySimulator.Options(
            hub: URL(string: hub)!, operatorEmail: operatorEmail, operatorPassword: password)
        options.customers = customers
        options.ordersPerMinute = rate
        options.duration = .seconds(duration)
        options.settle = .seconds(settle)
        options.prepMinutes = try FleetCommand.range(prep, "prep", in: 0...240)
        options.acceptDelay = try FleetCommand.range(acceptDelay, "accept-delay", in: 0...3600)
        options.payment = DaySimulator.Payment(rawValue: payment)!
        options.radiusMetres = radius
        options.seed = seed
        let day = DaySimulator(options: options) { say("dabba-sim \($0)") }
        let summary = try await day.run()
        for line in Self.report(summary) { say(line) }
    }

    /// The report's lines.
    public static func report(_ s: DaySimulator.Summary) -> [String] {
        func minutes(_ values: [Double]) -> String {
            guard !values.isEmpty else { return "none" }
            let sorted = values.sorted()
            func at(_ p: Double) -> Double {
                sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
            }
            return String(
                format: "p50 %.1f min, p90 %.1f min, mean %.1f min (%d orders)", at(0.5) / 60, at(0.9) / 60,
                values.reduce(0, +) / Double(values.count) / 60, values.count)
        }
        let refused = s.refused.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let offers = s.offersPerOrder
        return [
            "dabba-sim day: placed \(s.placed) orders" + (refused.isEmpty ? "" : " (refused: \(refused))")
                + "; delivered \(s.delivered), cancelled \(s.cancelled), failed \(s.failed), rejected \(s.rejected), "
                + "unfinished \(s.unfinished)",
            "  order to door (placed → delivered): " + minutes(s.doorSeconds),
            "  wait for an agent (confirmed → assigned): " + minutes(s.waitSeconds),
            String(
                format: "  offers per order: mean %.2f, max %d",
                offers.isEmpty ? 0 : Double(offers.reduce(0, +)) / Double(offers.count),
                offers.max() ?? 0),
            String(format: "  earnings Gini over %d agents: %.3f (delivery fees)", s.earnings.count, s.gini),
        ]
    }
}
