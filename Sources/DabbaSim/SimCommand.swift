#if canImport(Glibc)
    import Glibc
#endif
import ArgumentParser
import DabbaCore
import DabbaProtocol
import Logging

/// `dabba-sim`: routes for gpsfake, and a stand-in acker for demos and tests.
public struct SimCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dabba-sim",
        abstract:
            "Dabba simulator: NMEA routes for gpsfake, a contract-following acker, the dispatch-policy comparison, and a live fleet of simulated riders.",
        subcommands: [
            RouteCommand.self, RedateCommand.self, AckerCommand.self, PoliciesCommand.self, FleetCommand.self,
            DayCommand.self,
        ])
    public init() {}
}

/// `dabba-sim route`: writes an NMEA log of a loop route for gpsfake.
public struct RouteCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Write an NMEA route (RMC+GGA at 1 Hz) for gpsfake to standard output or a file.")
    @Option(help: "Number of fixes (one per second).") var count = 600
    @Option(help: "Start time: ISO 8601 UTC (2026-11-25T10:00:00Z) or 'now'.") var start = "now"
    @Option(help: "Centre latitude.") var latitude = 22.3149
    @Option(help: "Centre longitude.") var longitude = 87.3105
    @Option(help: "Random seed (same seed, same route).") var seed: UInt64 = 1
    @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?
    @Option(
        name: .customLong("lead-in"),
        help: "Seconds of receiver-without-fix sentences before the route (gpsd drops the first ~1.5 s it is fed).")
    var leadIn = 2
    public init() {}

    public func validate() throws {
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be 1…1000000") }
        guard start == "now" || Timestamp.parse(start) != nil else {
            throw ValidationError("--start must be 'now' or an ISO 8601 UTC time")
        }
    }

    public func run() throws {
        let startMs = start == "now" ? wallClockMilliseconds() / 1000 * 1000 : Timestamp.parse(start)!
        let points = Route.loop(
            count: count, start: startMs, centerLatitude: latitude, centerLongitude: longitude, seed: seed)
        let text = NMEA.noFixSentences(count: leadIn, before: startMs) + NMEA.sentences(for: points)
        try writeText(text, to: output)
    }
}

/// `dabba-sim redate`: a recorded NMEA log moved in time so that it starts now (or at `--start`).
public struct RedateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "redate",
        abstract: "Move a recorded NMEA log in time so that its first fix is now (for gpsfake replays).",
        discussion: """
            RMC and GGA times (and RMC dates) are shifted by one amount, so the first dated RMC falls on --start; \
            their checksums are recomputed; every other line and every position stays as recorded. Agents drop \
            nothing for being old, but dispatch only considers agents with a recent fix, and dashboards show a fix \
            253 hours old as stale: a demo replays its recorded drive as happening now.
            """)
    @Argument(help: "The NMEA log (e.g. hub/demo/route-kharagpur.nmea).") var input: String
    @Option(help: "When the first fix should be: ISO 8601 UTC (2026-11-25T10:00:00Z) or 'now'.") var start = "now"
    @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?
    public init() {}

    public func validate() throws {
        guard start == "now" || Timestamp.parse(start) != nil else {
            throw ValidationError("--start must be 'now' or an ISO 8601 UTC time")
        }
    }

    public func run() throws {
        guard let file = fopen(input, "r") else {
            throw ValidationError("cannot read \(input): \(String(cString: strerror(errno)))")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        fclose(file)
        let startMs = start == "now" ? wallClockMilliseconds() / 1000 * 1000 : Timestamp.parse(start)!
        guard let text = NMEA.redated(String(decoding: bytes, as: UTF8.self), start: startMs) else {
            throw ValidationError("\(input) has no RMC sentence with a date to move from")
        }
        try writeText(text, to: output)
    }
}

/// Writes `text` to the file `output`, or to standard output when nil (the NMEA commands' `--output`).
func writeText(_ text: String, to output: String?) throws {
    guard let output else { return print(text, terminator: "") }
    guard let file = fopen(output, "w") else {
        throw ValidationError("cannot write \(output): \(String(cString: strerror(errno)))")
    }
    fputs(text, file)
    fclose(file)
}

/// `dabba-sim acker`: acks every fix and event it sees, as the hub will.
public struct AckerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "acker", abstract: "Ack every agent's fixes and events (a stand-in for the hub's ack loop).")
    @Option(name: .customLong("mqtt-host"), help: "Broker host.") var host = "127.0.0.1"
    @Option(name: .customLong("mqtt-port"), help: "Broker port.") var port = 1883
    public init() {}

    public func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let acker = Acker(host: host, port: port, logger: Logger(label: "dabba-sim.acker"))
        try await acker.run()
    }
}
