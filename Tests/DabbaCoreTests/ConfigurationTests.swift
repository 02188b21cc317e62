import DabbaCore
import DabbaTestSupport
import Foundation
import Testing

@Suite struct ConfigurationTests {
    let keys = [
        ConfigKey("mqtt-port", default: "1883", help: "port"),
        ConfigKey("mqtt-host", default: "127.0.0.1", help: "host"),
        ConfigKey("log-level", default: "info", help: "level"),
    ]

    @Test func environmentNames() {
        #expect(ConfigKey("mqtt-password-file", default: "", help: "").environmentName == "DABBA_MQTT_PASSWORD_FILE")
    }

    @Test func layersApplyInOrderDefaultsFileEnvironmentFlags() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let file = dir.path("agent.default")
        try """
        # comment
        DABBA_MQTT_PORT=1900
        export DABBA_MQTT_HOST="broker.local"
        DABBA_LOG_LEVEL='debug'
        OTHER_VARIABLE=ignored
        """.write(toFile: file, atomically: true, encoding: .utf8)

        let fileOnly = try LayeredConfiguration(keys: keys, file: file, environment: [:], flags: [:])
        #expect(fileOnly.string("mqtt-port") == "1900")
        #expect(fileOnly.string("mqtt-host") == "broker.local")
        #expect(fileOnly.string("log-level") == "debug")
        #expect(fileOnly.origin("mqtt-port") == .file(file))

        let withEnv = try LayeredConfiguration(
            keys: keys, file: file, environment: ["DABBA_MQTT_PORT": "2000"], flags: [:])
        #expect(withEnv.string("mqtt-port") == "2000")
        #expect(withEnv.origin("mqtt-port") == .environment)

        let withFlag = try LayeredConfiguration(
            keys: keys, file: file, environment: ["DABBA_MQTT_PORT": "2000"], flags: ["mqtt-port": "2100"])
        #expect(withFlag.string("mqtt-port") == "2100")
        #expect(withFlag.string("log-level") == "debug")

        let defaults = try LayeredConfiguration(keys: keys, file: nil, environment: [:], flags: [:])
        #expect(defaults.string("mqtt-port") == "1883")
        #expect(defaults.origin("mqtt-port") == .defaultValue)
    }

    @Test func badValueNamesKeyAndOrigin() throws {
        let c = try LayeredConfiguration(keys: keys, file: nil, environment: ["DABBA_MQTT_PORT": "70000"], flags: [:])
        #expect(throws: ConfigError.self) { try c.int("mqtt-port", in: 1...65535) }
        do {
            _ = try c.int("mqtt-port", in: 1...65535)
        } catch {
            #expect(error.key == "mqtt-port")
            #expect(error.message.contains("mqtt-port"))
            #expect(error.message.contains("DABBA_MQTT_PORT"))
            #expect(error.message.contains("70000"))
        }
        let word = try LayeredConfiguration(keys: keys, file: nil, environment: [:], flags: ["mqtt-port": "abc"])
        #expect(throws: ConfigError.self) { try word.int("mqtt-port", in: 1...65535) }
    }

    @Test func unknownKeysAndMissingFiles() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let file = dir.path("bad.default")
        try "DABBA_NOT_A_KEY=1\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) {
            try LayeredConfiguration(keys: keys, file: file, environment: [:], flags: [:])
        }
        #expect(throws: ConfigError.self) {
            try LayeredConfiguration(keys: keys, file: nil, environment: [:], flags: ["nope": "1"])
        }
        // A missing default file is fine; a missing file the user named is an error.
        let missing = dir.path("missing")
        _ = try LayeredConfiguration(keys: keys, file: missing, environment: [:], flags: [:])
        #expect(throws: ConfigError.self) {
            try LayeredConfiguration(keys: keys, file: missing, fileRequired: true, environment: [:], flags: [:])
        }
    }

    @Test func malformedEnvironmentFileLines() {
        #expect(throws: EnvironmentFile.Failure.self) { try EnvironmentFile.parse("just words\n") }
        #expect(throws: EnvironmentFile.Failure.self) { try EnvironmentFile.parse("BAD-NAME=1\n") }
        let truncated = try? EnvironmentFile.parse("DABBA_X=\"unterminated\n\n# c\n")
        #expect(truncated?.first?.value == "\"unterminated")
    }

    @Test func defaultFileListsEveryKeyCommented() throws {
        let text = LayeredConfiguration.defaultFile(keys: keys, header: ["header"])
        for key in keys {
            #expect(text.contains("#\(key.environmentName)=\(key.defaultValue)\n"))
            #expect(text.contains("# \(key.help)\n"))
        }
        // Nothing is set by the shipped file: every assignment is commented out.
        #expect(try EnvironmentFile.parse(text).isEmpty)
    }
}
