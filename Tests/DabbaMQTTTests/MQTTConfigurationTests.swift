import DabbaMQTT
import DabbaTestSupport
import Foundation
import Testing

extension MQTTTests {
    @Test func readPasswordFileErrorsNameThePath() throws {
        let directory = try TestDirectory("mqtt-pw")
        defer { directory.remove() }
        let missing = directory.path("no-such-file")
        do {
            _ = try MQTTConfiguration.readPasswordFile(missing)
            Issue.record("a missing file must throw")
        } catch let error as MQTTError {
            #expect(error.code == .passwordFile)
            #expect(error.message.contains(missing))
            #expect(error.message.contains("No such file"))
        }

        try "\n".write(toFile: directory.path("empty"), atomically: true, encoding: .utf8)
        #expect(
            throws: MQTTError(
                .passwordFile, "password file \(directory.path("empty")) is empty (the password is its first line)")
        ) {
            try MQTTConfiguration.readPasswordFile(directory.path("empty"))
        }

        try "  pass word\t\r\nsecond line\n".write(toFile: directory.path("crlf"), atomically: true, encoding: .utf8)
        #expect(try MQTTConfiguration.readPasswordFile(directory.path("crlf")) == "  pass word")
        try "nonewline".write(toFile: directory.path("plain"), atomically: true, encoding: .utf8)
        #expect(try MQTTConfiguration.readPasswordFile(directory.path("plain")) == "nonewline")
    }

    @Test func impossibleConfigurationsMakeRunThrow() async throws {
        let cases: [(MQTTConfiguration, MQTTError.Code)] = [
            (MQTTConfiguration(port: 0, clientID: "x"), .invalidArgument),
            (MQTTConfiguration(clientID: "x", keepAlive: 2), .invalidArgument),
            (MQTTConfiguration(clientID: "x", maxInflight: 0), .invalidArgument),
            (MQTTConfiguration(clientID: "x", tlsCAFile: "/nonexistent/ca.pem"), .tls),
            (MQTTConfiguration(clientID: "x", will: MQTTMessage(topic: "bad/#", string: "w")), .invalidArgument),
        ]
        for (configuration, code) in cases {
            let client = MQTTClient(configuration: configuration, logger: testLogger("bad"))
            do {
                try await client.run()
                Issue.record("run() must throw for \(configuration)")
            } catch let error as MQTTError {
                #expect(error.code == code, "\(error)")
            }
            var iterator = client.events.makeAsyncIterator()
            #expect(await iterator.next() == nil, "the events stream is finished")
        }
    }
}
