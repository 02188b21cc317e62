import ArgumentParser
import DabbaCore

/// The agent's keys are one table (``AgentConfiguration/keys``); its flags, environment names, default file and
/// `--help` lines are generated from it.
extension AgentConfiguration: ConfigKeyTable {}

/// `--config FILE` and every agent key as a flag (`--mqtt-port 1883`). Flags win over the environment, which wins
/// over the config file, which wins over the defaults.
public typealias AgentOptions = ConfigFlags<AgentConfiguration>

extension ConfigFlags where Table == AgentConfiguration {
    /// Resolves the layers into a validated configuration.
    public func resolve(environment: [String: String]) throws(ConfigError) -> AgentConfiguration {
        try AgentConfiguration(layered(environment: environment))
    }
}
