import ArgumentParser
import DabbaCore
import Testing

/// A two-key table for the generated flags.
enum SampleTable: ConfigKeyTable {
    static let keys = [
        ConfigKey("mqtt-port", default: "1883", help: "MQTT broker port."),
        ConfigKey("log-level", default: "", help: "Log level."),
    ]
    static let defaultConfigFile = "/nonexistent/dabba-sample"
}

/// `ConfigFlags`: every key of a table is a flag without being declared, in both spellings; mistakes are usage errors
/// that name the word; `--help` lists every key from the table.
@Suite struct ConfigFlagsTests {
    typealias Flags = ConfigFlags<SampleTable>

    @Test func everyKeyIsAFlagInBothSpellings() throws {
        #expect(try Flags.parse(["--mqtt-port", "1884"]).flagValues == ["mqtt-port": "1884"])
        #expect(
            try Flags.parse(["--mqtt-port=1885", "--log-level", "debug"]).flagValues
                == ["mqtt-port": "1885", "log-level": "debug"])
        // A value may contain "=".
        #expect(try Flags.parse(["--log-level=a=b"]).flagValues == ["log-level": "a=b"])
        // The last of a repeated key wins, as for a declared option.
        #expect(try Flags.parse(["--mqtt-port", "1", "--mqtt-port", "2"]).flagValues == ["mqtt-port": "2"])
        #expect(try Flags.parse(["--config", "/tmp/x"]).configFile == "/tmp/x")
    }

    @Test func mistakesAreUsageErrorsNamingTheWord() {
        for (words, message) in [
            (["--mqtt-prot", "1"], "unknown option '--mqtt-prot'"),
            (["--mqtt-port"], "missing value for '--mqtt-port'"),
            (["1883"], "unexpected argument '1883'"),
        ] {
            do {
                _ = try Flags.parse(words)
                Issue.record("\(words) parsed")
            } catch {
                #expect(Flags.message(for: error).contains(message), "\(words): \(Flags.message(for: error))")
                #expect(Flags.exitCode(for: error) == .validationFailure)
            }
        }
    }

    @Test func flagsWinOverTheEnvironmentWhichWinsOverDefaults() throws {
        let flags = try Flags.parse(["--log-level", "debug"])
        let layered = try flags.layered(environment: ["DABBA_MQTT_PORT": "1999", "DABBA_LOG_LEVEL": "info"])
        #expect(layered.string("mqtt-port") == "1999" && layered.origin("mqtt-port") == .environment)
        #expect(layered.string("log-level") == "debug" && layered.origin("log-level") == .flag)
        // A file named by --config must exist; the default one may be missing.
        #expect(throws: ConfigError.self) {
            try Flags.parse(["--config", "/nonexistent/named"]).layered(environment: [:])
        }
    }

    @Test func helpListsEveryKeyWithItsEnvironmentNameAndDefault() {
        let help = Flags.helpText
        #expect(help.contains("--mqtt-port (DABBA_MQTT_PORT, default 1883)\n      MQTT broker port."))
        #expect(help.contains("--log-level (DABBA_LOG_LEVEL, default unset)\n      Log level."))
        #expect(help.contains("/nonexistent/dabba-sample"))
    }
}
