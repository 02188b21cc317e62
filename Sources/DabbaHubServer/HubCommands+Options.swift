import ArgumentParser
import DabbaCore
import DabbaHub

/// The hub's keys are one table (``HubConfiguration/keys``); its flags, environment names, default file and `--help`
/// lines are generated from it.
extension HubConfiguration: ConfigKeyTable {}

/// `--config FILE` and every hub key as a flag (`--http-port 8080`). Flags win over the environment, which wins over
/// the config file, which wins over the defaults.
package typealias HubOptions = ConfigFlags<HubConfiguration>

extension ConfigFlags where Table == HubConfiguration {
    /// Resolves the layers into a validated configuration.
    package func resolve(environment: [String: String]) throws(ConfigError) -> HubConfiguration {
        try HubConfiguration(layered(environment: environment))
    }
}
