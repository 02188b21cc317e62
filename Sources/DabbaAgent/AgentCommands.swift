#if canImport(Glibc)
    import Glibc
#endif
import ArgumentParser
import DabbaCore
import DabbaProtocol
import Logging
import ServiceLifecycle

/// `dabba-agent`: the device daemon and its local CLI.
public struct AgentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dabba-agent",
        abstract: "Dabba delivery agent: gpsd → durable SQLite outbox → MQTT, plus the agent's task commands.",
        discussion: """
            `dabba-agent run` is the daemon systemd starts. The other commands talk to it over the control socket.

            Configuration: defaults, then the config file (/etc/default/dabba-agent, DABBA_*=value lines), then \
            the environment (DABBA_MQTT_PORT …), then flags (--mqtt-port …). `dabba-agent defaults` prints every \
            key with its default.

            Exit status: 0 success; 1 runtime failure or degraded status; 2 bad configuration or usage; \
            3 daemon unreachable; 4 unknown order; 5 action not allowed in the task's state.

            Tasks: `tasks` lists what the hub offered or assigned; `accept`, `reject`, `pickup` and `deliver` act \
            on one order, and `shift start|end` tells the hub the agent is (or is no longer) taking orders. Each \
            action is stored in the outbox with its own seq and reaches the hub like a fix, even after days offline.
            """,
        version: AgentApplication.version,
        subcommands: [
            RunCommand.self, StatusCommand.self, TasksCommand.self, AcceptCommand.self, RejectCommand.self,
            PickupCommand.self, DeliverCommand.self, ShiftCommand.self, DefaultsCommand.self,
        ])
    public init() {}
}

/// `dabba-agent run`: the daemon.
public struct RunCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the daemon (what systemd starts).",
        discussion: """
            Sends READY=1 to systemd once the outbox is open and the gpsd reader runs; a missing broker does not delay it.

            """ + AgentOptions.helpText
    )
    @OptionGroup public var options: AgentOptions
    @Flag(help: "Print the effective configuration as DABBA_*=value lines, each with where it came from, then exit.")
    var printConfig = false
    public init() {}

    public func run() async throws {
        let environment = processEnvironment()
        let layered: LayeredConfiguration
        let configuration: AgentConfiguration
        do {
            layered = try options.layered(environment: environment)
            configuration = try AgentConfiguration(layered)
        } catch {
            exitWithMessage("dabba-agent: \(error.message)", code: 2)
        }
        if printConfig {
            // Each key's effective value and where it came from (default, file, environment, flag).
            print(layered.render())
            return
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = DeferredMetadataLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "dabba-agent")
        logger[metadataKey: "agent.id"] = "\(configuration.agentID)"
        let group: ServiceGroup
        do {
            group = try AgentApplication.build(configuration: configuration, environment: environment, logger: logger)
        } catch {
            exitWithMessage("dabba-agent: \(error.message)", code: error.exitCode)
        }
        try await group.run()
    }
}

/// `dabba-agent defaults`: the commented default config file.
public struct DefaultsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "defaults", abstract: "Print the default config file: every key, commented, with its default.")
    public init() {}
    public func run() {
        print(AgentConfiguration.defaultFile, terminator: "")
    }
}

extension AgentConfiguration {
    /// The text of `systemd/dabba-agent.default`.
    public static var defaultFile: String {
        LayeredConfiguration.defaultFile(
            keys: keys,
            header: [
                "dabba-agent configuration: /etc/default/dabba-agent (loaded by systemd with EnvironmentFile=).",
                "Every key is shown commented out with its default. Order of precedence: defaults, this file,",
                "the environment, command-line flags (--mqtt-port …). `dabba-agent defaults` prints this file.",
            ])
    }
}
