#if canImport(Glibc)
    import Glibc
#endif
import DabbaCore
import DabbaProtocol
import Logging

/// Everything `dabba-agent run` needs, resolved from defaults → config file → environment → flags.
public struct AgentConfiguration: Sendable {
    public var agentID: String
    public var mqttHost: String
    public var mqttPort: Int
    public var mqttUsername: String?
    public var mqttPasswordFile: String?
    public var mqttTLSCA: String?
    public var mqttKeepAlive: Int
    public var gpsdHost: String
    public var gpsdPort: Int
    public var gpsNoFixTimeout: Duration
    public var outboxPath: String
    public var outboxMaxRows: Int
    public var outboxSync: String
    public var controlSocket: String
    public var backlogBatch: Int
    public var backlogWindow: Int
    /// Backlog fixes per second; 0 = unlimited.
    public var backlogRate: Int
    public var ackTimeout: Duration
    public var maxUnacked: Int
    public var stateInterval: Duration
    public var logLevel: Logger.Level
    /// How long an incomplete fix waits for a better TPV of its epoch (``GPSReaderConfiguration/epochSettle``).
    /// Not a config key: the default suits receivers; tests lengthen it to hold a fix back on purpose.
    public var gpsEpochSettle: Duration = .milliseconds(350)

    /// The default config file (the one systemd's `EnvironmentFile=` loads).
    public static let defaultConfigFile = "/etc/default/dabba-agent"

    /// Every key, its default and one line of help. `systemd/dabba-agent.default` is this table, commented out.
    public static let keys: [ConfigKey] = [
        ConfigKey(
            "agent-id", default: "", help: "This agent's id (1-64 of A-Z a-z 0-9 . _ -); empty means the host name."),
        ConfigKey("mqtt-host", default: "127.0.0.1", help: "MQTT broker host."),
        ConfigKey("mqtt-port", default: "1883", help: "MQTT broker port (8883 is usual with TLS)."),
        ConfigKey("mqtt-username", default: "", help: "MQTT user name; empty connects anonymously."),
        ConfigKey("mqtt-password-file", default: "", help: "File whose first line is the MQTT password."),
        ConfigKey("mqtt-tls-ca", default: "", help: "CA certificate file; when set, the connection uses TLS."),
        ConfigKey("mqtt-keepalive", default: "30", help: "MQTT keepalive in seconds (5-3600)."),
        ConfigKey("gpsd-host", default: "127.0.0.1", help: "gpsd host."),
        ConfigKey("gpsd-port", default: "2947", help: "gpsd port."),
        ConfigKey("gps-no-fix-timeout", default: "10", help: "Seconds without a fix before the state says no_fix."),
        ConfigKey("outbox", default: "/var/lib/dabba-agent/outbox.db", help: "SQLite outbox file (WAL)."),
        ConfigKey(
            "outbox-max-rows", default: "700000",
            help: "Rows the outbox keeps before thinning old fixes (700000 = 8 days at 1 Hz)."),
        ConfigKey(
            "outbox-sync", default: "full",
            help:
                "SQLite synchronous: full (every commit survives power loss) or normal (faster; a power cut may lose the last commits)."
        ),
        ConfigKey("control-socket", default: "/run/dabba-agent/control.sock", help: "Unix socket for the local CLI."),
        ConfigKey("backlog-batch", default: "100", help: "Fixes per backlog message (1-1000)."),
        ConfigKey(
            "backlog-window", default: "10", help: "Backlog messages in flight before waiting for PUBACKs (1-100)."),
        ConfigKey("backlog-rate", default: "2000", help: "Backlog fixes per second; 0 means unlimited."),
        ConfigKey("ack-timeout", default: "60", help: "Seconds to wait for the hub's ack before sending a row again."),
        ConfigKey(
            "max-unacked", default: "20000", help: "Rows sent but not yet acked by the hub before the backlog pauses."),
        ConfigKey("state-interval", default: "30", help: "Seconds between retained state messages."),
        ConfigKey("log-level", default: "info", help: "trace, debug, info, notice, warning, error or critical."),
    ]

    /// Validates every key; a bad one throws a `ConfigError` naming it.
    public init(_ c: LayeredConfiguration, hostName: () -> String = AgentConfiguration.hostName) throws(ConfigError) {
        let id = c.optional("agent-id") ?? hostName()
        guard AgentID.isValid(id) else {
            throw c.invalid("agent-id", "expected 1-64 characters from A-Z a-z 0-9 . _ -")
        }
        agentID = id
        mqttHost = try c.nonEmpty("mqtt-host")
        mqttPort = try c.int("mqtt-port", in: 1...65535)
        mqttUsername = c.optional("mqtt-username")
        mqttPasswordFile = c.optional("mqtt-password-file")
        mqttTLSCA = c.optional("mqtt-tls-ca")
        mqttKeepAlive = try c.int("mqtt-keepalive", in: 5...3600)
        gpsdHost = try c.nonEmpty("gpsd-host")
        gpsdPort = try c.int("gpsd-port", in: 1...65535)
        gpsNoFixTimeout = try c.seconds("gps-no-fix-timeout", in: 1...86400)
        outboxPath = try c.nonEmpty("outbox", "expected a file path") { $0.hasSuffix("/") == false }
        outboxMaxRows = try c.int("outbox-max-rows", in: 100...100_000_000)
        outboxSync = try c.choice("outbox-sync", ["full", "normal"]).uppercased()
        controlSocket = try c.nonEmpty("control-socket", "expected a socket path (at most 107 bytes)") {
            $0.utf8.count <= 107
        }
        backlogBatch = try c.int("backlog-batch", in: 1...1000)
        backlogWindow = try c.int("backlog-window", in: 1...100)
        backlogRate = try c.int("backlog-rate", in: 0...1_000_000)
        ackTimeout = try c.seconds("ack-timeout", in: 1...86400)
        maxUnacked = try c.int("max-unacked", in: 1...1_000_000)
        stateInterval = try c.seconds("state-interval", in: 1...3600)
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        logLevel = Logger.Level(rawValue: try c.choice("log-level", levels)) ?? .info
    }

    /// The machine's host name (the default agent id).
    public static func hostName() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "agent" }
        let name = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        return name.isEmpty ? "agent" : name
    }
}
