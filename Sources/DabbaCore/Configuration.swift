/// One configuration key: `mqtt-port` ⇔ environment `DABBA_MQTT_PORT` ⇔ flag `--mqtt-port`.
public struct ConfigKey: Sendable, Hashable {
    public var name: String
    /// The default, as it would be written in the config file ("" for unset).
    public var defaultValue: String
    /// One line of help, shown in `--help` and in the commented default file.
    public var help: String

    public init(_ name: String, default defaultValue: String, help: String) {
        self.name = name
        self.defaultValue = defaultValue
        self.help = help
    }

    /// `DABBA_` + the name in upper case with `_` for `-`.
    public var environmentName: String {
        "DABBA_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 })
    }
}

/// Where a configuration value came from, for error messages and `--print-config`.
public enum ConfigOrigin: Sendable, Equatable, CustomStringConvertible {
    case defaultValue
    case file(String)
    case environment
    case flag

    public var description: String {
        switch self {
        case .defaultValue: "default"
        case .file(let path): "file \(path)"
        case .environment: "environment"
        case .flag: "flag"
        }
    }
}

/// A bad configuration value or file. The daemon prints it and exits with status 2.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String?
    public var message: String
    public init(key: String?, message: String) {
        self.key = key
        self.message = message
    }
    public var description: String { message }
}

/// Configuration resolved in the order of mosquitto and gpsd: defaults, then the config file (an environment file of
/// `DABBA_*=value` lines), then the process environment, then command-line flags.
public struct LayeredConfiguration: Sendable {
    public let keys: [ConfigKey]
    private var values: [String: (value: String, origin: ConfigOrigin)] = [:]

    /// - Parameters:
    ///   - file: path of the environment file; `fileRequired` makes a missing file an error (an explicit `--config`).
    ///   - environment: the process environment (only `DABBA_*` names for known keys are read).
    ///   - flags: values given as flags, by key name.
    public init(
        keys: [ConfigKey], file: String?, fileRequired: Bool = false, environment: [String: String],
        flags: [String: String]
    ) throws(ConfigError) {
        self.keys = keys
        for key in keys { values[key.name] = (key.defaultValue, .defaultValue) }
        let byEnvironmentName = Dictionary(uniqueKeysWithValues: keys.map { ($0.environmentName, $0) })
        if let file {
            let entries: [(name: String, value: String, line: Int)]
            do {
                entries = try EnvironmentFile.read(path: file)
            } catch let error where error.isMissing && !fileRequired {
                entries = []
            } catch {
                throw ConfigError(key: nil, message: "cannot read config file \(file): \(error.message)")
            }
            for entry in entries {
                guard let key = byEnvironmentName[entry.name] else {
                    if entry.name.hasPrefix("DABBA_") {
                        throw ConfigError(key: nil, message: "\(file):\(entry.line): unknown key \(entry.name)")
                    }
                    continue
                }
                values[key.name] = (entry.value, .file(file))
            }
        }
        for key in keys {
            if let value = environment[key.environmentName] { values[key.name] = (value, .environment) }
        }
        for (name, value) in flags {
            guard values[name] != nil else { throw ConfigError(key: name, message: "unknown option --\(name)") }
            values[name] = (value, .flag)
        }
    }

    /// The raw value of `key` (its default when nobody set it).
    public func string(_ key: String) -> String { values[key]?.value ?? "" }

    /// Where `key`'s value came from.
    public func origin(_ key: String) -> ConfigOrigin { values[key]?.origin ?? .defaultValue }

    /// An error naming the key, its value and where it came from.
    public func invalid(_ key: String, _ expectation: String) -> ConfigError {
        let k = keys.first { $0.name == key }
        let from: String
        switch origin(key) {
        case .defaultValue: from = "default"
        case .file(let path): from = "\(k?.environmentName ?? key) in \(path)"
        case .environment: from = "environment \(k?.environmentName ?? key)"
        case .flag: from = "--\(key)"
        }
        return ConfigError(
            key: key, message: "invalid value \"\(string(key))\" for \(key) (from \(from)): \(expectation)")
    }

    /// An integer within `range`.
    public func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let value = Int(string(key).trimmed), range.contains(value) else {
            throw invalid(key, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A number of seconds (decimals allowed) within `range`, as a Duration.
    public func seconds(_ key: String, in range: ClosedRange<Double>) throws(ConfigError) -> Duration {
        guard let value = Double(string(key).trimmed), value.isFinite, range.contains(value) else {
            throw invalid(key, "expected seconds from \(range.lowerBound) to \(range.upperBound)")
        }
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    /// A non-empty string, optionally checked by `isValid`.
    public func nonEmpty(
        _ key: String, _ expectation: String = "must not be empty", isValid: (String) -> Bool = { _ in true }
    )
        throws(ConfigError) -> String
    {
        let value = string(key).trimmed
        guard !value.isEmpty, isValid(value) else { throw invalid(key, expectation) }
        return value
    }

    /// An optional string: nil when empty.
    public func optional(_ key: String) -> String? {
        let value = string(key).trimmed
        return value.isEmpty ? nil : value
    }

    /// One of `choices` (case-insensitive); returns the choice as written in `choices`.
    public func choice(_ key: String, _ choices: [String]) throws(ConfigError) -> String {
        let value = string(key).trimmed.lowercased()
        guard let match = choices.first(where: { $0.lowercased() == value }) else {
            throw invalid(key, "expected one of \(choices.joined(separator: ", "))")
        }
        return match
    }

    /// Every key with its effective value and origin, as `DABBA_*=value` lines (secrets are never values here:
    /// they are file paths).
    public func render() -> String {
        keys.map { "\($0.environmentName)=\(string($0.name))    # \(origin($0.name))" }.joined(separator: "\n")
    }

    /// The commented default file that ships in `systemd/*.default`: every key, commented out, with its default
    /// and one line of help.
    public static func defaultFile(keys: [ConfigKey], header: [String]) -> String {
        var lines = header.map { $0.isEmpty ? "#" : "# \($0)" }
        for key in keys {
            lines.append("")
            lines.append("# \(key.help)")
            lines.append("#\(key.environmentName)=\(key.defaultValue)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
