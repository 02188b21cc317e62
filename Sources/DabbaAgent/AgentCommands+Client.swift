#if canImport(Glibc)
    import Glibc
#endif
import ArgumentParser
import DabbaCore
import DabbaProtocol

/// Options of the commands that talk to a running daemon.
public struct ClientOptions: ParsableArguments {
    @Option(
        name: .customLong("config"), help: "Config file to read control-socket from (default /etc/default/dabba-agent)."
    )
    var configFile: String?
    @Option(
        name: .customLong("control-socket"),
        help: "The daemon's control socket (default /run/dabba-agent/control.sock).")
    var controlSocket: String?
    @Flag(help: "Print the daemon's answer as JSON.")
    var json = false
    public init() {}

    /// Sends `request`, prints errors, and exits with the documented status on failure.
    func send(_ request: ControlRequest) -> ControlResponse {
        let environment = processEnvironment()
        let path: String
        do {
            let file = configFile ?? environment["DABBA_CONFIG"] ?? AgentConfiguration.defaultConfigFile
            let layered = try LayeredConfiguration(
                keys: AgentConfiguration.keys, file: file, fileRequired: configFile != nil, environment: environment,
                flags: controlSocket.map { ["control-socket": $0] } ?? [:])
            path = try layered.nonEmpty("control-socket")
        } catch {
            exitWithMessage("dabba-agent: \(error.message)", code: 2)
        }
        let response: ControlResponse
        do {
            response = try ControlClient.send(request, path: path)
        } catch {
            exitWithMessage("dabba-agent: \(error.message)", code: 3)
        }
        if json { print(String(decoding: PayloadCoding.encode(response), as: UTF8.self)) }
        if let error = response.error {
            let code: Int32 =
                switch error.code {
                case "not_found": 4
                case "conflict": 5
                case "bad_request": 2
                default: 1
                }
            exitWithMessage("dabba-agent: \(error.message)", code: code)
        }
        return response
    }
}

/// `dabba-agent status`.
public struct StatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show broker connection, GPS, outbox depth and oldest unsent age.",
        discussion:
            "Exit status: 0 online with a GPS fix; 1 running but offline, without a fix, with a full disk or with failing storage (an I/O error, a read-only file system); 3 daemon unreachable."
    )
    @OptionGroup var client: ClientOptions
    public init() {}

    public func run() throws {
        guard let s = client.send(ControlRequest(cmd: "status")).status else { throw ExitCode(1) }
        if !client.json {
            print("agent:     \(s.agent)")
            print("broker:    \(s.broker)")
            var gps = "gps:       \(s.gps)"
            if let mode = s.mode { gps += " (\(mode)D)" }
            print(gps)
            if let fix = s.lastFix {
                let age = s.lastFixAge.map { " (\(formatSeconds($0)) ago)" } ?? ""
                print("last fix:  \(fix.time) \(fix.lat), \(fix.lon)\(age)")
            }
            print("outbox:    \(s.outboxDepth) rows, \(s.unacked) awaiting ack, last seq \(s.lastSeq)")
            print("oldest:    \(s.oldestUnsentAge.map(formatSeconds) ?? "-")")
            if s.thinned > 0 { print("thinned:   \(s.thinned) old fixes") }
            if s.diskFull { print("disk:      FULL (fixes sent live, not stored)") }
            if let error = s.storageError { print("storage:   FAILING: \(error)") }
        }
        if s.isDegraded { throw ExitCode(1) }
    }
}

func formatSeconds(_ seconds: Double) -> String {
    if seconds < 120 { return "\(Int(seconds))s" }
    if seconds < 7200 { return "\(Int(seconds / 60))m" }
    if seconds < 172_800 { return "\(Int(seconds / 3600))h" }
    return "\(Int(seconds / 86400))d"
}

/// `dabba-agent tasks`.
public struct TasksCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "tasks", abstract: "List this agent's tasks.")
    @OptionGroup var client: ClientOptions
    public init() {}
    public func run() {
        let tasks = client.send(ControlRequest(cmd: "tasks")).tasks ?? []
        guard !client.json else { return }
        if tasks.isEmpty { print("no tasks") }
        for t in tasks {
            var line = "\(t.task.order)  \(t.status)"
            if let name = t.task.pickup?.name { line += "  from \(name)" }
            if let address = t.task.dropoff?.address { line += "  to \(address)" }
            if let cash = t.task.cashToCollect { line += "  collect \(cash) \(t.task.currency ?? "")" }
            print(line)
        }
    }
}

/// Shared body of the task actions and the shift commands.
func runAction(_ cmd: String, order: String? = nil, reason: String? = nil, cash: Int64? = nil, client: ClientOptions) {
    let response = client.send(ControlRequest(cmd: cmd, order: order, reason: reason, cashCollected: cash))
    if !client.json, let event = response.event {
        let subject = event.order.isEmpty ? event.agent : event.order
        print("\(subject): \(event.type.rawValue) (seq \(event.seq))")
    }
}

/// `dabba-agent shift start|end`.
public struct ShiftCommand: ParsableCommand {
    public enum Action: String, ExpressibleByArgument, CaseIterable, Sendable { case start, end }
    public static let configuration = CommandConfiguration(
        commandName: "shift", abstract: "Start or end the agent's shift (the hub offers orders only on shift).",
        discussion: "Recorded in the outbox and sent to the hub like the task actions; works offline too.")
    @Argument(help: "start or end.") var action: Action
    @OptionGroup var client: ClientOptions
    public init() {}
    public func run() { runAction("shift-\(action.rawValue)", client: client) }
}

public struct AcceptCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "accept", abstract: "Accept an offered or assigned order.")
    @Argument(help: "Order id.") var order: String
    @OptionGroup var client: ClientOptions
    public init() {}
    public func run() { runAction("accept", order: order, client: client) }
}

public struct RejectCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "reject", abstract: "Reject an offered or assigned order.")
    @Argument(help: "Order id.") var order: String
    @Option(help: "Why (sent to the hub).") var reason: String?
    @OptionGroup var client: ClientOptions
    public init() {}
    public func run() { runAction("reject", order: order, reason: reason, client: client) }
}

public struct PickupCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "pickup", abstract: "Mark an order picked up at the restaurant.")
    @Argument(help: "Order id.") var order: String
    @OptionGroup var client: ClientOptions
    public init() {}
    public func run() { runAction("pickup", order: order, client: client) }
}

public struct DeliverCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "deliver", abstract: "Mark an order delivered.")
    @Argument(help: "Order id.") var order: String
    @Option(name: .customLong("cash-collected"), help: "Cash collected, in minor units (cash on delivery).")
    var cashCollected: Int64?
    @OptionGroup var client: ClientOptions
    public init() {}
    public func run() { runAction("deliver", order: order, cash: cashCollected, client: client) }
}
