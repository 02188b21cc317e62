import ArgumentParser
import DabbaCore

/// Every agent config key as a flag (`--mqtt-port`), plus `--config`. Flags win over the environment, which wins
/// over the config file, which wins over the defaults.
public struct AgentOptions: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: "Config file of DABBA_*=value lines (default /etc/default/dabba-agent; env DABBA_CONFIG).")
    public var configFile: String?

    @Option(name: .customLong("agent-id"), help: "This agent's id (default: host name).") var agentID: String?
    @Option(name: .customLong("mqtt-host"), help: "MQTT broker host (default 127.0.0.1).") var mqttHost: String?
    @Option(name: .customLong("mqtt-port"), help: "MQTT broker port (default 1883).") var mqttPort: String?
    @Option(name: .customLong("mqtt-username"), help: "MQTT user name (default: anonymous).") var mqttUsername: String?
    @Option(name: .customLong("mqtt-password-file"), help: "File holding the MQTT password.")
    var mqttPasswordFile: String?
    @Option(name: .customLong("mqtt-tls-ca"), help: "CA file; enables TLS.") var mqttTLSCA: String?
    @Option(name: .customLong("mqtt-keepalive"), help: "MQTT keepalive seconds (default 30).")
    var mqttKeepAlive: String?
    @Option(name: .customLong("gpsd-host"), help: "gpsd host (default 127.0.0.1).") var gpsdHost: String?
    @Option(name: .customLong("gpsd-port"), help: "gpsd port (default 2947).") var gpsdPort: String?
    @Option(name: .customLong("gps-no-fix-timeout"), help: "Seconds without a fix before no_fix (default 10).")
    var gpsNoFixTimeout: String?
    @Option(name: .customLong("outbox"), help: "SQLite outbox path (default /var/lib/dabba-agent/outbox.db).")
    var outbox: String?
    @Option(name: .customLong("outbox-max-rows"), help: "Rows kept before thinning (default 700000).")
    var outboxMaxRows: String?
    @Option(name: .customLong("outbox-sync"), help: "full or normal (default full).") var outboxSync: String?
    @Option(name: .customLong("control-socket"), help: "Control socket (default /run/dabba-agent/control.sock).")
    var controlSocket: String?
    @Option(name: .customLong("backlog-batch"), help: "Fixes per backlog message (default 100).")
    var backlogBatch: String?
    @Option(name: .customLong("backlog-window"), help: "Backlog messages in flight (default 10).")
    var backlogWindow: String?
    @Option(name: .customLong("backlog-rate"), help: "Backlog fixes/s, 0 unlimited (default 2000).")
    var backlogRate: String?
    @Option(name: .customLong("ack-timeout"), help: "Seconds before unacked rows are resent (default 60).")
    var ackTimeout: String?
    @Option(name: .customLong("max-unacked"), help: "Sent-but-unacked rows before the backlog pauses (default 20000).")
    var maxUnacked: String?
    @Option(name: .customLong("state-interval"), help: "Seconds between state messages (default 30).")
    var stateInterval: String?
    @Option(name: .customLong("log-level"), help: "Log level (default info).") var logLevel: String?

    public init() {}

    /// The flags that were given, by key name.
    public var flagValues: [String: String] {
        let all: [(String, String?)] = [
            ("agent-id", agentID), ("mqtt-host", mqttHost), ("mqtt-port", mqttPort), ("mqtt-username", mqttUsername),
            ("mqtt-password-file", mqttPasswordFile), ("mqtt-tls-ca", mqttTLSCA), ("mqtt-keepalive", mqttKeepAlive),
            ("gpsd-host", gpsdHost), ("gpsd-port", gpsdPort), ("gps-no-fix-timeout", gpsNoFixTimeout),
            ("outbox", outbox), ("outbox-max-rows", outboxMaxRows), ("outbox-sync", outboxSync),
            ("control-socket", controlSocket), ("backlog-batch", backlogBatch), ("backlog-window", backlogWindow),
            ("backlog-rate", backlogRate), ("ack-timeout", ackTimeout), ("max-unacked", maxUnacked),
            ("state-interval", stateInterval), ("log-level", logLevel),
        ]
        return Dictionary(uniqueKeysWithValues: all.compactMap { key, value in value.map { (key, $0) } })
    }

    /// Resolves the layers into a validated configuration.
    public func resolve(environment: [String: String]) throws(ConfigError) -> AgentConfiguration {
        let file = configFile ?? environment["DABBA_CONFIG"] ?? AgentConfiguration.defaultConfigFile
        let layered = try LayeredConfiguration(
            keys: AgentConfiguration.keys, file: file,
            fileRequired: configFile != nil || environment["DABBA_CONFIG"] != nil,
            environment: environment, flags: flagValues)
        return try AgentConfiguration(layered)
    }
}
