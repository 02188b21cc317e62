import DabbaMQTT
import DabbaTestSupport
import Foundation
import Testing

extension MQTTTests {
    /// Runs openssl with `arguments`; fails the test on a non-zero exit.
    private func openssl(_ arguments: [String], in directory: TestDirectory) throws {
        let executable = try #require(findExecutable("openssl"))
        let tool = try ManagedProcess(
            name: "openssl", executable: executable, arguments: arguments, logDirectory: directory.url,
            currentDirectory: directory.url)
        let status = tool.waitForExit(timeout: .seconds(30))
        #expect(status == 0, "openssl \(arguments.joined(separator: " ")): \(tool.output())")
    }

    /// A throwaway CA (`name`.crt / .key) valid for one day.
    private func makeCA(_ name: String, in directory: TestDirectory) throws {
        try openssl(
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "\(name).key", "-out", "\(name).crt", "-days", "1", "-subj", "/CN=\(name)",
            ], in: directory)
    }

    @Test func tlsWithTheRightCAConnectsAndAForeignCAIsRejected() async throws {
        let directory = try TestDirectory("mqtt-tls")
        defer { directory.remove() }
        try makeCA("ca", in: directory)
        try makeCA("other-ca", in: directory)
        try openssl(
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
            ], in: directory)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            .write(toFile: directory.path("san.cnf"), atomically: true, encoding: .utf8)
        try openssl(
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.crt", "-days", "1", "-extfile", "san.cnf",
            ], in: directory)
        let broker = try await MosquittoBroker.started(
            directory: directory,
            tls: .init(
                caFile: directory.path("ca.crt"), certFile: directory.path("server.crt"),
                keyFile: directory.path("server.key")))

        let subscriber = try await TestSubscriber.start(
            port: broker.port, filter: "dabba/test/tls", tlsCAFile: directory.path("ca.crt"))
        let client = RunningClient(
            MQTTConfiguration(port: broker.port, clientID: uniqueID("tls"), tlsCAFile: directory.path("ca.crt")))
        #expect(await client.waitConnected())
        try await client.client.publishAndWait(MQTTMessage(topic: "dabba/test/tls", string: "secret"))
        #expect(await subscriber.waitFor(count: 1).map(\.payloadString) == ["secret"])
        await client.stop()
        await subscriber.stop()

        // A CA that did not sign the broker's certificate: the handshake fails and the client keeps retrying.
        let foreign = RunningClient(
            MQTTConfiguration(
                port: broker.port, clientID: uniqueID("tls-bad"), tlsCAFile: directory.path("other-ca.crt"),
                maxBackoff: .seconds(1)))
        #expect(await foreign.waitForEvents { $0.count { $0.disconnectReason != nil } >= 2 })
        #expect(!foreign.events.contains { $0.connectedSession != nil })
        let reason = try #require(foreign.events.compactMap(\.disconnectReason).first)
        #expect(reason.contains("TLS") && reason.contains("certificate verify failed"), "\(reason)")
        await foreign.stop()
    }
}
