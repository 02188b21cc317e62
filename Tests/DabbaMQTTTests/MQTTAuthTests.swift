import DabbaCore
import DabbaMQTT
import DabbaTestSupport
import Foundation
import Testing

extension MQTTTests {
    /// A broker that requires user alice (password "s3cret", made by mosquitto_passwd) and lets her write only
    /// under dabba/test/auth/allowed/.
    private func authBroker(_ directory: TestDirectory) async throws -> MosquittoBroker {
        let passwd = try #require(findExecutable("mosquitto_passwd"))
        let tool = try ManagedProcess(
            name: "mosquitto_passwd", executable: passwd,
            arguments: ["-b", "-c", directory.path("passwd"), "alice", "s3cret"], logDirectory: directory.url)
        #expect(tool.waitForExit() == 0)
        try "user alice\ntopic readwrite dabba/test/auth/allowed/#\n"
            .write(toFile: directory.path("acl"), atomically: true, encoding: .utf8)
        return try await MosquittoBroker.started(
            directory: directory, allowAnonymous: false, passwordFile: directory.path("passwd"),
            aclFile: directory.path("acl"))
    }

    @Test func passwordFromFileConnectsAndACLDeniedPublishFails() async throws {
        let directory = try TestDirectory("mqtt-auth")
        defer { directory.remove() }
        let broker = try await authBroker(directory)
        try "s3cret  \n".write(toFile: directory.path("alice.password"), atomically: true, encoding: .utf8)
        let password = try MQTTConfiguration.readPasswordFile(directory.path("alice.password"))
        #expect(password == "s3cret")

        let alice = RunningClient(
            MQTTConfiguration(port: broker.port, clientID: uniqueID("alice"), username: "alice", password: password))
        #expect(await alice.waitConnected())
        try await alice.client.publishAndWait(MQTTMessage(topic: "dabba/test/auth/allowed/x", string: "ok"))

        // MQTT 5: the broker answers a denied publish with PUBACK reason 0x87.
        let mid = try alice.client.publish(MQTTMessage(topic: "dabba/test/auth/denied", string: "no"))
        #expect(await alice.waitForEvents { $0.contains { $0.failedPublish?.mid == mid } })
        let failure = try #require(alice.events.compactMap(\.failedPublish).first { $0.mid == mid })
        #expect(failure.reason.lowercased().contains("not authorized"), "\(failure.reason)")
        #expect(!alice.events.contains { $0.publishedID == mid })
        await #expect(throws: MQTTError.self) {
            try await alice.client.publishAndWait(MQTTMessage(topic: "dabba/test/auth/denied", string: "no"))
        }
        do {
            try await alice.client.publishAndWait(MQTTMessage(topic: "dabba/test/auth/denied", string: "no"))
        } catch let error as MQTTError {
            #expect(error.code == .publishFailed)
        }
        #expect(alice.client.isConnected, "a refused publish does not end the session")
        await alice.stop()
    }

    @Test func wrongPasswordIsRefusedAndRetriedWithBackoff() async throws {
        let directory = try TestDirectory("mqtt-auth")
        defer { directory.remove() }
        let broker = try await authBroker(directory)
        let started = ContinuousClock.now
        let mallory = RunningClient(
            MQTTConfiguration(
                port: broker.port, clientID: uniqueID("mallory"), username: "alice", password: "wrong",
                maxBackoff: .seconds(1)))
        #expect(await mallory.waitForEvents { $0.count { $0.disconnectReason != nil } >= 4 })
        let events = mallory.events
        let elapsed = ContinuousClock.now - started
        #expect(!events.contains { $0.connectedSession != nil })
        #expect(!mallory.client.isConnected)
        let reasons = events.compactMap(\.disconnectReason)
        // 250 ms doubling to 1 s, jittered into [½, 1]: no more attempts than those delays allow in the time it
        // took (a loaded machine only makes fewer); a busy loop would make hundreds.
        let most = Backoff.mostAttempts(within: elapsed, initial: .milliseconds(250), maximum: .seconds(1))
        #expect(reasons.count <= most, "\(reasons.count) attempts in \(elapsed)")
        #expect(reasons.allSatisfy { $0.lowercased().contains("not authorized") }, "\(reasons)")
        await mallory.stop()
    }
}
