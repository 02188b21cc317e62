#if canImport(Glibc)
    import Glibc
#endif
import DabbaCore
import DabbaGPS
import DabbaMQTT
import DabbaProtocol
import DabbaSQLite
import Logging
import ServiceLifecycle

/// Builds the daemon: used by `dabba-agent run` and by the tests.
public enum AgentApplication {
    /// The version printed by `--version` and logged at start.
    public static let version = "0.1.0"

    /// A failure to start, with the exit status the daemon uses (2 for configuration, 1 otherwise).
    public struct StartError: Error, CustomStringConvertible {
        public var message: String
        public var exitCode: Int32
        public var description: String { message }
    }

    /// Takes the instance lock, opens the outbox, binds the control socket and wires the services in dependency
    /// order: MQTT client, main loop, gpsd reader, control server. On SIGTERM they stop in reverse: the control
    /// socket closes first, then the reader hands over its last fix, the main loop records it and goes offline,
    /// and the MQTT client stops last.
    public static func build(
        configuration c: AgentConfiguration, environment: [String: String], logger: Logger
    ) throws(StartError) -> ServiceGroup {
        var password: String?
        if let file = c.mqttPasswordFile {
            do {
                password = try MQTTConfiguration.readPasswordFile(file)
            } catch {
                throw StartError(message: "invalid value for mqtt-password-file: \(error)", exitCode: 2)
            }
        }
        if let ca = c.mqttTLSCA, access(ca, R_OK) != 0 {
            throw StartError(message: "invalid value for mqtt-tls-ca: cannot read \(ca)", exitCode: 2)
        }
        makeParentDirectory(of: c.outboxPath)
        makeParentDirectory(of: c.controlSocket)
        // One daemon per outbox: a second one would hand out the same seqs.
        try takeInstanceLock(outbox: c.outboxPath)
        // The lock is held (the descriptor stays open) for the life of the process.

        var options = Outbox.Options()
        options.maxRows = c.outboxMaxRows
        options.synchronous = c.outboxSync
        // A salvage of a damaged outbox (here, before READY, or later on the engine thread) keeps systemd informed.
        options.salvageProgress = SalvageProgress.systemd(SystemdNotifier(environment: environment))
        let outbox: Outbox
        do {
            outbox = try Outbox(path: c.outboxPath, options: options, logger: logger)
        } catch {
            throw StartError(message: "cannot open the outbox \(c.outboxPath): \(error)", exitCode: 1)
        }

        var mqttConfiguration = MQTTConfiguration(
            host: c.mqttHost, port: c.mqttPort, clientID: "dabba-agent-\(c.agentID)")
        mqttConfiguration.username = c.mqttUsername
        mqttConfiguration.password = password
        mqttConfiguration.tlsCAFile = c.mqttTLSCA
        mqttConfiguration.keepAlive = c.mqttKeepAlive
        mqttConfiguration.maxInflight = c.backlogWindow + 10
        mqttConfiguration.will = MQTTMessage(
            topic: Topics.state(agent: c.agentID),
            payload: AgentState(agent: c.agentID, online: false).jsonBytes(), qos: .atLeastOnce, retain: true)
        let mqtt = MQTTClient(configuration: mqttConfiguration, logger: logger)
        mqtt.subscribe(Topics.ack(agent: c.agentID), qos: .atLeastOnce)
        mqtt.subscribe(Topics.tasks(agent: c.agentID), qos: .atLeastOnce)

        var gpsConfiguration = GPSReaderConfiguration()
        gpsConfiguration.host = c.gpsdHost
        gpsConfiguration.port = c.gpsdPort
        gpsConfiguration.noFixTimeout = c.gpsNoFixTimeout
        gpsConfiguration.epochSettle = c.gpsEpochSettle
        let gps = GPSReader(configuration: gpsConfiguration, logger: logger)

        let engine = AgentEngine(configuration: c, outbox: outbox, mqtt: mqtt, logger: logger)
        let control: ControlServer
        do {
            control = try ControlServer(path: c.controlSocket, logger: logger) { request in
                await engine.respond(to: request)
            }
        } catch {
            throw StartError(message: error.message, exitCode: 1)
        }
        let main = AgentService(
            engine: engine, mqtt: mqtt, gps: gps, notifier: SystemdNotifier(environment: environment), logger: logger,
            version: version)
        return ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: mqtt), .init(service: main), .init(service: gps), .init(service: control)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
    }

    /// Takes `<outbox>.lock` for the life of the process (the descriptor stays open). Says which of the three
    /// things went wrong: the file cannot be opened (path, errno, what to do), another daemon holds it, or `flock`
    /// itself failed.
    static func takeInstanceLock(outbox: String) throws(StartError) {
        let path = outbox + ".lock"
        let lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard lock >= 0 else {
            let reason = String(cString: strerror(errno))
            throw StartError(
                message:
                    "cannot open the lock file \(path): \(reason); check that its directory exists and is writable by "
                    + "this user (systemd's StateDirectory= creates /var/lib/dabba-agent), or set outbox to another path",
                exitCode: 1)
        }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            close(lock)
            if failure == EWOULDBLOCK {
                throw StartError(
                    message: "another dabba-agent is already running on \(outbox) (it holds \(path))", exitCode: 1)
            }
            throw StartError(
                message: "cannot lock \(path): \(String(cString: strerror(failure)))", exitCode: 1)
        }
    }

    static func makeParentDirectory(of path: String) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let parent = String(path[..<slash])
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in parent.split(separator: "/") {
            prefix += "/" + component
            if access(prefix, F_OK) != 0 { mkdir(prefix, 0o750) }
        }
    }
}
