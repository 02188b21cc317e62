@testable import DabbaHubServer
import DabbaMQTT
import DabbaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import DabbaHub

/// `dabba-hub agents provision` through the built binary, and the broker ACL it installs, against a real
/// mosquitto that uses exactly the password and ACL files the command wrote.
@Suite(.serialized) struct ProvisionTests {
    /// A test directory with a hub database and broker files, and a way to run `dabba-hub agents …` on them.
    struct Setup {
        let directory: TestDirectory
        let mqttPort = FreePort.next()
        var passwordFile: String { directory.path("dabba.passwd") }
        var aclFile: String { directory.path("dabba.acl") }

        init() throws { directory = try TestDirectory("provision") }

        /// Runs `dabba-hub agents ARGS` with the test's files: (status, stdout, stderr).
        func agents(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try BuiltProducts.path(of: "dabba-hub"))
            process.arguments =
                ["agents"] + arguments + [
                    "--config", "/dev/null", "--database", "sqlite:" + directory.path("hub.db"), "--mqtt-port",
                    "\(mqttPort)", "--mosquitto-password-file", passwordFile, "--mosquitto-acl-file", aclFile,
                ]
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DABBA_") }
            let out = Pipe()
            let errPath = directory.path("stderr-\(UInt32.random(in: 0...UInt32.max))")
            _ = FileManager.default.createFile(atPath: errPath, contents: nil)
            let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            process.standardOutput = out
            process.standardError = errHandle
            try ManagedProcess.withSignalsUnblocked { try process.run() }
            let outData = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            try errHandle.close()
            let errString = try String(contentsOfFile: errPath, encoding: .utf8)
            return (process.terminationStatus, String(decoding: outData, as: UTF8.self), errString)
        }

        /// Provisions `id` and returns the password printed on stdout.
        func provision(_ id: String, _ extra: [String] = []) throws -> String {
            let (status, out, err) = try agents(["provision", id] + extra)
            try #require(status == 0, "provision \(id): \(err)")
            let line = try #require(out.split(separator: "\n").first { $0.hasPrefix("# mqtt-password: ") })
            return String(line.dropFirst("# mqtt-password: ".count))
        }

        /// A broker with no anonymous access and the command's files.
        func broker() async throws -> MosquittoBroker {
            try await MosquittoBroker.started(
                port: mqttPort, directory: directory, allowAnonymous: false, passwordFile: passwordFile,
                aclFile: aclFile)
        }

        /// Adds the hub's own MQTT user the way the operator does.
        func addHubUser(password: String) async throws {
            let (status, output) = try await runToCompletion(
                "/usr/bin/mosquitto_passwd", ["-b", passwordFile, "dabba-hub", password])
            try #require(status == 0, "mosquitto_passwd: \(output)")
        }
    }

    @Test func provisionCreatesAgentAndCredentialsThatTheBrokerAccepts() async throws {
        let setup = try Setup()
        let (status, out, err) = try setup.agents(["provision", "a-17", "--name", "Asha"])
        #expect(status == 0, "\(err)")
        for line in [
            "DABBA_AGENT_ID=a-17", "DABBA_MQTT_HOST=127.0.0.1", "DABBA_MQTT_PORT=\(setup.mqttPort)",
            "DABBA_MQTT_USERNAME=a-17", "DABBA_MQTT_PASSWORD_FILE=/etc/dabba-agent.password",
        ] {
            #expect(out.split(separator: "\n").contains(Substring(line)), "missing \(line) in:\n\(out)")
        }
        #expect(err.contains("kill -HUP $(pidof mosquitto)"))
        let password = try setup.provision("a-18")
        #expect(password.count == 43 && password.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(!err.contains(password))

        let listed = try setup.agents(["list"])
        #expect(listed.status == 0)
        #expect(listed.out.contains("a-17\tAsha\t") && listed.out.contains("a-18\t-\t"), "\(listed.out)")
        let template = try String(contentsOfFile: Self.repositoryFile("hub/mosquitto/dabba.acl"), encoding: .utf8)
        #expect(try String(contentsOfFile: setup.aclFile, encoding: .utf8) == template)
        #expect(try Self.mode(setup.passwordFile) == 0o640 && Self.mode(setup.aclFile) == 0o640)
        let passwd = try String(contentsOfFile: setup.passwordFile, encoding: .utf8)
        #expect(!passwd.contains(password) && passwd.contains("a-18:"))

        let broker = try await setup.broker()
        #expect(try await Probe.connect(setup.mqttPort, user: "a-18", password: password).connected)
        #expect(try await !Probe.connect(setup.mqttPort, user: "a-18", password: password + "x").connected)
        #expect(try await !Probe.connect(setup.mqttPort, user: "a-17", password: password).connected)
        broker.stop()
    }

    @Test func badIdExits2AndDuplicateExits1() throws {
        let setup = try Setup()
        for bad in ["bad id", "a/b", "a+", "#", "", String(repeating: "x", count: 65), "dabba-hub"] {
            let result = try setup.agents(["provision", bad])
            #expect(result.status == 2, "id '\(bad)': \(result.err)")
            #expect(result.out.isEmpty)
        }
        #expect(!FileManager.default.fileExists(atPath: setup.passwordFile))
        _ = try setup.provision("a-1")
        let before = try String(contentsOfFile: setup.passwordFile, encoding: .utf8)
        let duplicate = try setup.agents(["provision", "a-1"])
        #expect(duplicate.status == 1 && duplicate.err.contains("already exists") && duplicate.out.isEmpty)
        #expect(try String(contentsOfFile: setup.passwordFile, encoding: .utf8) == before)
        let rotateUnknown = try setup.agents(["provision", "a-2", "--rotate"])
        #expect(rotateUnknown.status == 1 && rotateUnknown.err.contains("does not exist"))
    }

    /// `--password-out` names a file to create or replace: a FIFO, a directory or a device such as /dev/null is
    /// refused before anything is provisioned, and left as it was (an earlier version chmod'ed it to 0600).
    @Test func aPasswordOutThatIsNotARegularFileIsRefusedUntouched() throws {
        let setup = try Setup()
        let fifo = setup.directory.path("fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        for target in [fifo, setup.directory.path("")] {
            let before = try Self.mode(target)
            let result = try setup.agents(["provision", "a-1", "--password-out", target])
            #expect(result.status == 2 && result.err.contains("is not a regular file"), "\(target): \(result.err)")
            #expect(try Self.mode(target) == before, "\(target)'s mode changed")
        }
        #expect(!FileManager.default.fileExists(atPath: setup.passwordFile), "nothing was provisioned")
        #expect(throws: BrokerCredentials.Failure.self) {
            try BrokerCredentials.writeSecret(path: fifo, contents: "secret\n")
        }
        #expect(try Self.mode(fifo) == 0o644)
    }

    @Test func rotateIssuesANewPasswordAndTheOldOneIsRefused() async throws {
        let setup = try Setup()
        let old = try setup.provision("a-1")
        let outFile = setup.directory.path("a-1.password")
        let (status, out, err) = try setup.agents(["provision", "a-1", "--rotate", "--password-out", outFile])
        #expect(status == 0, "\(err)")
        #expect(try Self.mode(outFile) == 0o600)
        let new = try MQTTConfiguration.readPasswordFile(outFile)
        #expect(new != old && new.count == 43)
        #expect(!out.contains(new) && !err.contains(new) && out.contains("DABBA_MQTT_USERNAME=a-1"))
        #expect(try String(contentsOfFile: setup.passwordFile, encoding: .utf8).split(separator: "\n").count == 1)

        let broker = try await setup.broker()
        #expect(try await Probe.connect(setup.mqttPort, user: "a-1", password: new).connected)
        #expect(try await !Probe.connect(setup.mqttPort, user: "a-1", password: old).connected)
        broker.stop()
    }

    @Test func aclConfinesEachAgentToItsOwnTopics() async throws {
        let setup = try Setup()
        let passwordA = try setup.provision("agent-a")
        let passwordB = try setup.provision("agent-b")
        try await setup.addHubUser(password: "hub-secret")
        let broker = try await setup.broker()
        defer { broker.stop() }
        let port = setup.mqttPort

        let hub = try await TestSubscriber.start(
            port: port, filter: "dabba/v1/agents/+/fix", username: "dabba-hub", password: "hub-secret")
        let hubSync = try await TestSubscriber.start(
            port: port, filter: "dabba/v1/agents/+/sync", username: "dabba-hub", password: "hub-secret")
        defer { hubSync.client.shutdown() }
        let a = try await Probe.connect(port, user: "agent-a", password: passwordA)
        #expect(a.connected)
        // A's own lanes are accepted and reach the hub.
        try await a.client.publishAndWait(MQTTMessage(topic: "dabba/v1/agents/agent-a/fix", string: #"{"n":1}"#))
        for lane in ["backlog", "events", "state", "sync"] {
            try await a.client.publishAndWait(MQTTMessage(topic: "dabba/v1/agents/agent-a/\(lane)", string: "{}"))
        }
        // Anything else is refused with PUBACK 0x87 and not delivered.
        for topic in [
            "dabba/v1/agents/agent-b/fix", "dabba/v1/agents/agent-b/state", "dabba/v1/agents/agent-b/sync",
            "dabba/v1/agents/agent-a/tasks",
            "dabba/v1/agents/agent-b/ack", "dabba/v1/orders/o-1/status", "owntracks/agent-a/phone",
        ] {
            await #expect(throws: MQTTError.self, "publish to \(topic)") {
                do {
                    try await a.client.publishAndWait(MQTTMessage(topic: topic, string: #"{"n":2}"#))
                } catch let error as MQTTError {
                    #expect(error.code == .publishFailed, "\(error)")
                    throw error
                }
            }
        }
        try await a.client.publishAndWait(MQTTMessage(topic: "dabba/v1/agents/agent-a/fix", string: #"{"n":3}"#))
        let fixes = await hub.waitFor(count: 2)
        #expect(fixes.map(\.topic) == ["dabba/v1/agents/agent-a/fix", "dabba/v1/agents/agent-a/fix"])
        #expect(fixes.map(\.payloadString) == [#"{"n":1}"#, #"{"n":3}"#])
        // The hub reads A's task sync request (and nothing from B's, refused above).
        #expect(await hubSync.waitFor(count: 1).map(\.topic) == ["dabba/v1/agents/agent-a/sync"])

        // A receives nothing from B's tasks or acks; it does get its own, published by the hub user.
        // The spy also reads its own ack topic: the hub publishes to it last, so once that message reached the spy,
        // anything the broker were to deliver on B's topics (published earlier) would have reached it too.
        let spy = try await Probe.connect(
            port, user: "agent-a", password: passwordA,
            subscribe: ["dabba/v1/agents/agent-b/tasks", "dabba/v1/agents/agent-b/ack", "dabba/v1/agents/agent-a/ack"])
        #expect(spy.connected)
        // mosquitto 2.0.11 grants the SUBACK for a filter the ACL denies but never delivers on it.
        #expect(await eventually { spy.client.isSubscribed })
        let own = try await Probe.connect(
            port, user: "agent-a", password: passwordA,
            subscribe: ["dabba/v1/agents/agent-a/tasks", "dabba/v1/agents/agent-a/ack"])
        #expect(await eventually { own.client.isSubscribed })
        let b = try await Probe.connect(
            port, user: "agent-b", password: passwordB, subscribe: ["dabba/v1/agents/agent-b/tasks"])
        #expect(await eventually { b.client.isSubscribed })
        for topic in [
            "dabba/v1/agents/agent-b/tasks", "dabba/v1/agents/agent-b/ack", "dabba/v1/agents/agent-a/tasks",
            "dabba/v1/agents/agent-a/ack",
        ] {
            try await hub.client.publishAndWait(MQTTMessage(topic: topic, string: "{}"))
        }
        #expect(await eventually { own.messages.count == 2 && b.messages.count == 1 && !spy.messages.isEmpty })
        #expect(Set(own.messages.map(\.topic)) == ["dabba/v1/agents/agent-a/tasks", "dabba/v1/agents/agent-a/ack"])
        #expect(spy.messages.map(\.topic) == ["dabba/v1/agents/agent-a/ack"], "only its own topic")

        // The hub's own subscriptions (plain and shared) are granted; anonymous clients are refused.
        for group in [nil, "hubs"] {
            let ingest = try await Probe.connect(
                port, user: "dabba-hub", password: "hub-secret", subscribe: IngestService.filters(group: group))
            #expect(await eventually { ingest.client.isSubscribed }, "group \(group ?? "-")")
        }
        #expect(try await !Probe.connect(port, user: nil, password: nil).connected)
        await hub.stop()
    }

    @Test func aclRulesAreAddedOnceAndOnlyWhenMissing() throws {
        let setup = try Setup()
        let custom = "# operator's own rules\nuser ops\ntopic read $SYS/#\npattern write dabba/v1/agents/%u/fix\n"
        try custom.write(toFile: setup.aclFile, atomically: true, encoding: .utf8)
        #expect(try BrokerCredentials.ensureACL(path: setup.aclFile))
        let merged = try String(contentsOfFile: setup.aclFile, encoding: .utf8)
        #expect(merged.hasPrefix(custom))
        #expect(BrokerCredentials.missingACLLines(in: merged).isEmpty)
        #expect(merged.components(separatedBy: "pattern write dabba/v1/agents/%u/fix").count == 2)
        #expect(try !BrokerCredentials.ensureACL(path: setup.aclFile))
        _ = try setup.provision("a-1")
        #expect(try String(contentsOfFile: setup.aclFile, encoding: .utf8) == merged)
    }

    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? Int ?? -1) & 0o777
    }

    static func repositoryFile(_ relative: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(relative).path
    }
}

/// Messages a ``Probe`` received (shared with its collecting task, so the probe itself can be released).
final class Inbox: Sendable {
    let messages = Mutex<[MQTTMessage]>([])
    /// Why the broker refused the connection (a CONNACK with an error), once it did.
    let refusal = Mutex<String?>(nil)
}

/// One MQTT client for a test: connects with the given credentials and subscriptions and collects messages.
/// Released probes disconnect.
final class Probe: Sendable {
    let client: MQTTClient
    let connected: Bool
    private let inbox: Inbox

    private init(client: MQTTClient, connected: Bool, inbox: Inbox) {
        self.client = client
        self.connected = connected
        self.inbox = inbox
    }

    var messages: [MQTTMessage] { inbox.messages.withLock { $0 } }

    /// Connects and waits for the broker's answer, CONNACK: an accept gives `connected`, a refusal (or no answer
    /// within the generous `timeout`) gives `connected == false`. A refusal is waited for, not inferred from
    /// silence, so a slow broker is not taken for one that refuses.
    static func connect(
        _ port: Int, user: String?, password: String?, subscribe filters: [String] = [],
        timeout: Duration = TestDeadline.generous
    ) async throws -> Probe {
        let configuration = MQTTConfiguration(
            port: port, clientID: "probe-\(UInt32.random(in: 0...UInt32.max))", username: user, password: password,
            maxBackoff: .seconds(1))
        let client = MQTTClient(
            configuration: configuration, logger: Logger(label: "probe", factory: { _ in SwiftLogNoOpLogHandler() }))
        for filter in filters { client.subscribe(filter, qos: .atLeastOnce) }
        let inbox = Inbox()
        Task { try? await client.run() }
        Task {
            for await event in client.events {
                switch event {
                case .message(let message): inbox.messages.withLock { $0.append(message) }
                // Not the protocol-version refusal (132) the client answers by retrying with MQTT 3.1.1.
                case .disconnected(let reason)
                where reason.hasPrefix("connection refused") && !reason.hasSuffix("(reason 132)"):
                    inbox.refusal.withLock { $0 = $0 ?? reason }
                default: break
                }
            }
        }
        let answered = await eventually(timeout: timeout, interval: .milliseconds(20)) {
            client.isConnected || inbox.refusal.withLock { $0 } != nil
        }
        let up = answered && client.isConnected
        if !up { client.shutdown() }
        return Probe(client: client, connected: up, inbox: inbox)
    }

    deinit { client.shutdown() }
}
