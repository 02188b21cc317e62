import DabbaMQTT
import Foundation
import Logging
import Synchronization

/// A real mosquitto broker for one test, on a loopback port chosen by the test. Its config, log and any
/// password/ACL files live in a test directory. `start()` waits until the port listens.
public final class MosquittoBroker: Sendable {
    /// Server certificate files for a TLS listener (PEM paths).
    public struct TLSFiles: Sendable {
        public var caFile: String
        public var certFile: String
        public var keyFile: String
        public init(caFile: String, certFile: String, keyFile: String) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    /// Always loopback.
    public let host = "127.0.0.1"
    /// The listener port; the same across `restart()`.
    public let port: Int
    /// Where the config and the log are.
    public let directory: TestDirectory
    /// The generated mosquitto.conf.
    public let configPath: String
    private let ownsDirectory: Bool
    private let process = Mutex<ManagedProcess?>(nil)

    /// Writes the config; does not start the broker (see ``start()`` and ``started(port:directory:allowAnonymous:passwordFile:aclFile:tls:extraConfig:)``).
    /// `passwordFile`/`aclFile` are passed through as `password_file`/`acl_file`; `extraConfig` lines are appended.
    public init(
        port: Int = FreePort.next(), directory: TestDirectory? = nil, allowAnonymous: Bool = true,
        passwordFile: String? = nil, aclFile: String? = nil, tls: TLSFiles? = nil, extraConfig: [String] = []
    ) throws {
        self.port = port
        self.ownsDirectory = directory == nil
        self.directory = try directory ?? TestDirectory("mosquitto")
        self.configPath = self.directory.path("mosquitto-\(port).conf")
        var lines = [
            "# written by DabbaTestSupport.MosquittoBroker",
            "user root",  // no privilege drop when tests run as root: the test directory stays readable
            "persistence false",
            "log_dest stderr",  // unbuffered, so the log is complete even after kill -9
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "listener \(port) 127.0.0.1",
            "allow_anonymous \(allowAnonymous)",
        ]
        if let tls {
            lines += ["cafile \(tls.caFile)", "certfile \(tls.certFile)", "keyfile \(tls.keyFile)"]
        }
        if let passwordFile { lines.append("password_file \(passwordFile)") }
        if let aclFile { lines.append("acl_file \(aclFile)") }
        lines += extraConfig
        try (lines.joined(separator: "\n") + "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Creates and starts a broker.
    public static func started(
        port: Int = FreePort.next(), directory: TestDirectory? = nil, allowAnonymous: Bool = true,
        passwordFile: String? = nil, aclFile: String? = nil, tls: TLSFiles? = nil, extraConfig: [String] = []
    ) async throws -> MosquittoBroker {
        let broker = try MosquittoBroker(
            port: port, directory: directory, allowAnonymous: allowAnonymous, passwordFile: passwordFile,
            aclFile: aclFile, tls: tls, extraConfig: extraConfig)
        try await broker.start()
        return broker
    }

    /// Starts `/usr/sbin/mosquitto -c CONFIG` and waits (at most `timeout`) until the port listens.
    /// Throws with the broker's log when it exits or never listens.
    public func start(timeout: Duration = TestDeadline.generous) async throws {
        guard let executable = findExecutable("mosquitto") else { throw TestSupportError("mosquitto not found") }
        // ManagedProcess spawns with no signal blocked, so mosquitto honours stop()'s SIGTERM.
        let started = try ManagedProcess(
            name: "mosquitto-\(port)", executable: executable, arguments: ["-c", configPath],
            logDirectory: directory.url)
        process.withLock { $0 = started }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !started.isRunning {
                throw TestSupportError("mosquitto exited at start; its log:\n\(started.output())")
            }
            if FreePort.isListening(port) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        if FreePort.isListening(port) { return }  // once more: the sleep may have overslept the deadline
        started.stop()
        throw TestSupportError("mosquitto does not listen on \(port) after \(timeout); its log:\n\(started.output())")
    }

    /// SIGTERM (then SIGKILL after 5 s) and reap.
    public func stop() { process.withLock { $0 }?.stop() }

    /// SIGKILL and reap: connections drop without any MQTT goodbye.
    public func kill9() { process.withLock { $0 }?.kill9() }

    /// SIGSTOP: the broker keeps its sockets but answers nothing (acknowledgements stay outstanding).
    public func suspend() { signal(SIGSTOP) }

    /// SIGCONT after ``suspend()``.
    public func resume() { signal(SIGCONT) }

    /// Stops (if running) and starts again on the same port.
    public func restart() async throws {
        stop()
        try await start()
    }

    /// True while the broker process runs.
    public var isRunning: Bool { process.withLock { $0 }?.isRunning ?? false }

    /// What the broker logged so far (all its runs).
    public func log() -> String { process.withLock { $0 }?.output() ?? "" }

    private func signal(_ number: Int32) {
        guard let running = process.withLock({ $0 }), running.isRunning else { return }
        kill(running.pid, number)
    }

    deinit {
        process.withLock { $0 }?.stop(timeout: .seconds(2))
        if ownsDirectory { directory.remove() }
    }
}

/// A subscriber for tests: an ``MQTTClient`` that collects the messages on one topic filter.
public final class TestSubscriber: Sendable {
    /// The underlying client (for example to publish, or to check `isConnected`).
    public let client: MQTTClient
    private let received = Mutex<[MQTTMessage]>([])
    private let tasks = Mutex<[Task<Void, Never>]>([])

    private init(client: MQTTClient) { self.client = client }

    /// Connects to `host:port`, subscribes to `filter`, and returns once the broker granted the subscription
    /// (throws after `timeout`).
    public static func start(
        host: String = "127.0.0.1", port: Int, filter: String, qos: MQTTQoS = .atLeastOnce,
        clientID: String = "test-sub-\(UInt32.random(in: 0...UInt32.max))", username: String? = nil,
        password: String? = nil, tlsCAFile: String? = nil,
        logger: Logger = Logger(label: "test-subscriber", factory: { _ in SwiftLogNoOpLogHandler() }),
        timeout: Duration = TestDeadline.generous
    ) async throws -> TestSubscriber {
        let configuration = MQTTConfiguration(
            host: host, port: port, clientID: clientID, username: username, password: password,
            tlsCAFile: tlsCAFile, maxBackoff: .seconds(1))
        let subscriber = TestSubscriber(client: MQTTClient(configuration: configuration, logger: logger))
        subscriber.client.subscribe(filter, qos: qos)
        let client = subscriber.client
        let runner = Task { _ = try? await client.run() }
        let collector = Task {
            for await event in client.events {
                if case .message(let message) = event { subscriber.received.withLock { $0.append(message) } }
            }
        }
        subscriber.tasks.withLock { $0 = [runner, collector] }
        guard await eventually(timeout: timeout, interval: .milliseconds(20), { client.isSubscribed }) else {
            await subscriber.stop()
            throw TestSupportError("test subscriber on \(host):\(port) not subscribed to \(filter) after \(timeout)")
        }
        return subscriber
    }

    /// The messages received so far, in arrival order.
    public var messages: [MQTTMessage] { received.withLock { $0 } }

    /// Waits until at least `count` messages arrived or `timeout` passed; returns what arrived.
    public func waitFor(count: Int, timeout: Duration = TestDeadline.generous) async -> [MQTTMessage] {
        _ = await eventually(timeout: timeout, interval: .milliseconds(20)) { received.withLock { $0.count >= count } }
        return messages
    }

    /// Disconnects cleanly and waits for the client to stop.
    public func stop() async {
        client.shutdown()
        for task in tasks.withLock({ $0 }) { await task.value }
    }

    deinit { client.shutdown() }
}
