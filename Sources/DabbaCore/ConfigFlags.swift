import ArgumentParser

/// A daemon's table of configuration keys: the one place a key is written. Its flags (``ConfigFlags``), environment
/// names (``ConfigKey/environmentName``), commented default file (``LayeredConfiguration/defaultFile(keys:header:)``)
/// and `--help` lines (``ConfigFlags/helpText``) are all generated from it.
public protocol ConfigKeyTable {
    /// Every key, its default and one line of help.
    static var keys: [ConfigKey] { get }
    /// The environment file read when neither `--config` nor `DABBA_CONFIG` names one.
    static var defaultConfigFile: String { get }
}

/// `--config FILE`, and every key of `Table` as `--KEY VALUE` or `--KEY=VALUE`.
///
/// The keys are not declared one by one: they are read from the table, so a key added there has its flag, its
/// environment name, its line in the default file and its line in `--help` at once. An unknown `--KEY`, a key
/// without a value or a stray word is a usage error (exit 2) naming it.
public struct ConfigFlags<Table: ConfigKeyTable>: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "Config file of DABBA_*=value lines (default \(Table.defaultConfigFile); env DABBA_CONFIG).",
            valueName: "file"))
    public var configFile: String?

    @Argument(
        parsing: .allUnrecognized,
        help: ArgumentHelp(
            "Any configuration key as --KEY VALUE or --KEY=VALUE; every key is listed below.",
            valueName: "--KEY VALUE"))
    public var settings: [String] = []

    public init() {}

    public func validate() throws {
        do {
            _ = try flagValues
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The keys given as flags, by key name (the last of a repeated key wins, as for any option).
    public var flagValues: [String: String] {
        get throws(ConfigError) { try Self.values(from: settings) }
    }

    /// Resolves defaults → the config file → `environment` → the flags.
    public func layered(environment: [String: String]) throws(ConfigError) -> LayeredConfiguration {
        let named = configFile ?? environment["DABBA_CONFIG"]
        return try LayeredConfiguration(
            keys: Table.keys, file: named ?? Table.defaultConfigFile, fileRequired: named != nil,
            environment: environment, flags: try flagValues)
    }

    /// Reads `--KEY VALUE` and `--KEY=VALUE` pairs against the table.
    static func values(from words: [String]) throws(ConfigError) -> [String: String] {
        let names = Set(Table.keys.map(\.name))
        var values: [String: String] = [:]
        var index = 0
        while index < words.count {
            let word = words[index]
            index += 1
            guard word.hasPrefix("--"), word.count > 2 else {
                throw ConfigError(key: nil, message: "unexpected argument '\(word)'")
            }
            var name = String(word.dropFirst(2))
            let value: String
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            } else {
                guard index < words.count else {
                    throw ConfigError(key: name, message: "missing value for '--\(name)'")
                }
                value = words[index]
                index += 1
            }
            guard names.contains(name) else {
                throw ConfigError(key: name, message: "unknown option '--\(name)' (--help lists every key)")
            }
            values[name] = value
        }
        return values
    }

    /// The keys as `--help` shows them: flag, environment name, default and help, one key per paragraph.
    public static var helpText: String {
        var lines = [
            "Configuration keys: defaults, then the config file (\(Table.defaultConfigFile), DABBA_*=value lines), "
                + "then the environment, then flags.",
            "",
        ]
        for key in Table.keys {
            let shown = key.defaultValue.isEmpty ? "unset" : key.defaultValue
            lines.append("  --\(key.name) (\(key.environmentName), default \(shown))")
            lines.append("      \(key.help)")
        }
        return lines.joined(separator: "\n")
    }
}
