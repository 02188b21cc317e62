import ArgumentParser
import DabbaCore
import Foundation
import Logging

/// `dabba-sim fleet`: simulated riders on the broker, speaking the agent's MQTT protocol, for demos and load.
public struct FleetCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Run N simulated riders that speak the agent's MQTT protocol to the hub.",
        discussion: """
            Each rider has its own connection (client id dabba-sim-<id>) with a retained online state and a Last Will \
            saying offline, starts its shift, and reports a fix a second: wandering near its start while idle, riding \
            to the restaurant and then the door while on a delivery; the riders' fixes are spread over the second, as \
            independent devices' are. Offers arriving on its tasks topic are answered after a think time, accepted with --accept-probability and rejected otherwise; an accepted order is \
            picked up after a wait at the restaurant and delivered with the cash to collect. Seqs start at the \
            current time in milliseconds, so a later run is never mistaken for a resend. The agents must exist in \
            the hub (dabba-hub agents provision <id>). Prints the counts every --report seconds and at the end.
            """)

    @Option(help: "Number of riders.") var agents = 20
    @Option(name: .customLong("id-prefix"), help: "Rider ids are <prefix><n>, n from 1, zero-padded to 2 digits.")
    var idPrefix = "sim-"
    @Option(name: .customLong("mqtt-host"), help: "Broker host.") var mqttHost = "127.0.0.1"
    @Option(name: .customLong("mqtt-port"), help: "Broker port.") var mqttPort = 1883
    @Option(name: .customLong("mqtt-username"), help: "Broker user name (the same for every rider).")
    var mqttUsername: String?
    @Option(name: .customLong("mqtt-password-file"), help: "File holding the broker password.")
    var mqttPasswordFile: String?
    @Option(name: .customLong("center-lat"), help: "Latitude the riders start around.") var centerLat = 22.3149
    @Option(name: .customLong("center-lon"), help: "Longitude the riders start around.") var centerLon = 87.3105
    @Option(help: "Riders start within this many metres of the centre.") var spread = 2000.0
    @Option(name: .customLong("accept-probability"), help: "Probability of accepting an offer (0-1).")
    var acceptProbability = 0.9
    @Option(help: "Seconds before answering an offer, as MIN-MAX.") var think = "2-6"
    @Option(name: .customLong("pickup-wait"), help: "Seconds at the restaurant before pickup, as MIN-MAX.")
    var pickupWait = "15-45"
    @Option(help: "Riding speed in m/s, as MIN-MAX.") var speed = "5-9"
    @Option(help: "Seconds to run; 0 runs until stopped.") var duration = 0
    @Option(help: "Seconds between progress lines.") var report = 30
    @Option(help: "Random seed (same seed, same riders and choices).") var seed: UInt64 = 1
    public init() {}

    /// The ids of `count` riders: `prefix` + n for n in 1…count, n zero-padded to the width of `count` (at least 2
    /// digits): `sim-01`…`sim-20`, `sim-0001`…`sim-1000`. What `dabba-hub agents provision` must have created.
    public static func riderIDs(count: Int, prefix: String) -> [String] {
        let width = max(2, String(count).count)
        return (0..<max(0, count)).map { index in
            let n = String(index + 1)
            return prefix + String(repeating: "0", count: max(0, width - n.count)) + n
        }
    }

    static func range(_ text: String, _ name: String, in bounds: ClosedRange<Double>) throws -> ClosedRange<Double> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Double($0) }
        guard parts.count == 2, let low = parts[0], let high = parts[1], low <= high, bounds.contains(low),
            bounds.contains(high)
        else { throw ValidationError("--\(name) must be MIN-MAX within \(bounds.lowerBound)…\(bounds.upperBound)") }
        return low...high
    }

    public func validate() throws {
        guard (1...10_000).contains(agents) else { throw ValidationError("--agents must be 1…10000") }
        guard (0...1).contains(acceptProbability) else { throw ValidationError("--accept-probability must be 0…1") }
        guard (-90...90).contains(centerLat), (-180...180).contains(centerLon) else {
            throw ValidationError("--center-lat/--center-lon must be a point on Earth")
        }
        guard (0...100_000).contains(spread) else { throw ValidationError("--spread must be 0…100000 metres") }
        guard (0...604_800).contains(duration), (1...3600).contains(report) else {
            throw ValidationError("--duration must be 0…604800 and --report 1…3600 seconds")
        }
        _ = try Self.range(think, "think", in: 0...600)
        _ = try Self.range(pickupWait, "pickup-wait", in: 0...3600)
        _ = try Self.range(speed, "speed", in: 0.5...50)
    }

    public func run() async throws {
        var logger = Logger(label: "dabba-sim")
        logger.logLevel = .warning
        var options = FleetSimulator.Options(agents: Self.riderIDs(count: agents, prefix: idPrefix))
        options.host = mqttHost
        options.port = mqttPort
        options.username = mqttUsername
        if let mqttPasswordFile {
            options.password = try String(contentsOfFile: mqttPasswordFile, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        options.centre = (centerLat, centerLon)
        options.spreadMetres = spread
        options.seed = seed
        options.behaviour.acceptProbability = acceptProbability
        options.behaviour.thinkSeconds = try Self.range(think, "think", in: 0...600)
        options.behaviour.pickupWaitSeconds = try Self.range(pickupWait, "pickup-wait", in: 0...3600)
        options.behaviour.rideSpeed = try Self.range(speed, "speed", in: 0.5...50)
        let fleet = FleetSimulator(options: options, logger: logger)
        say(
            "dabba-sim fleet: \(agents) riders (\(options.agents.first!)…\(options.agents.last!)) on \(mqttHost):\(mqttPort)"
        )
        let every = report
        let reporter = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(every))
                say("dabba-sim fleet: " + Self.line(fleet.snapshot))
            }
        }
        defer { reporter.cancel() }
        try await fleet.run(duration: duration > 0 ? .seconds(duration) : nil)
        say("dabba-sim fleet: done — " + Self.line(fleet.snapshot))
    }

    static func line(_ c: FleetSimulator.Counters) -> String {
        "offers \(c.offers) (accepted \(c.accepted), rejected \(c.rejected)), pickups \(c.pickups), deliveries "
            + "\(c.deliveries), cancelled \(c.cancelled), fixes \(c.fixes), publish failures \(c.publishFailures)"
    }
}

/// Writes a line to standard output at once (unbuffered: the demo sends the simulator's progress to log files, where
/// it should appear as it happens, and survive the process being killed).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
