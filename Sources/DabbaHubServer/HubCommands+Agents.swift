import ArgumentParser
import DabbaCore
import DabbaHub
import DabbaProtocol
import Foundation
import HubModel

/// `dabba-hub agents …`: delivery agents (devices) and their broker credentials.
package struct AgentsCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "agents", abstract: "Provision and list delivery agents (devices).",
        subcommands: [AgentsProvisionCommand.self, AgentsListCommand.self])
    package init() {}
}

/// `dabba-hub agents provision ID`: creates the agent, its MQTT password and the broker's password/ACL entries,
/// and prints the device's `/etc/default/dabba-agent` lines.
package struct AgentsProvisionCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "provision",
        abstract: "Create an agent and its MQTT credentials; print the device's /etc/default/dabba-agent lines.",
        discussion: """
            Creates agent ID in the database, generates a random MQTT password (32 bytes, base64url), sets it for \
            MQTT user ID in the broker's password file (mosquitto-password-file, via mosquitto_passwd; mode 0640) \
            and makes sure the broker's ACL file (mosquitto-acl-file) holds the rules of hub/mosquitto/dabba.acl, \
            which let an agent write only its own dabba/v1/agents/ID/… lanes and read only its own tasks and ack.

            Standard output is the device's /etc/default/dabba-agent lines, and the password (shown this once) \
            unless --password-out is given. Copy the password to /etc/dabba-agent.password on the device (mode \
            0600). The broker reads the files again on SIGHUP: kill -HUP $(pidof mosquitto).

            Exit status: 0 done; 1 the agent exists (without --rotate) or a file/database failure; 2 bad id or \
            configuration.
            """)
    @Argument(help: "Agent id: 1-64 characters from A-Z a-z 0-9 . _ - (also its MQTT user name).") var id: String
    @Option(help: "Display name (default: none).") var name: String?
    @Option(
        name: .customLong("password-out"), help: "Write the password to this file (mode 0600) instead of printing it.")
    var passwordOut: String?
    @Flag(help: "The agent exists: issue a new MQTT password (the old one stops working after the broker reloads).")
    var rotate = false
    /// Last: it takes every word the options above did not (a positional before it would be swallowed).
    @OptionGroup package var options: HubOptions
    package init() {}

    package func run() async throws {
        guard AgentID.isValid(id) else {
            exitWithMessage("dabba-hub: invalid agent id '\(id)': use 1-64 characters from A-Z a-z 0-9 . _ -", code: 2)
        }
        guard id != BrokerCredentials.hubUser else {
            exitWithMessage("dabba-hub: agent id '\(id)' is reserved for the hub's own MQTT user", code: 2)
        }
        if let passwordOut, !BrokerCredentials.isRegularFileOrAbsent(passwordOut) {
            exitWithMessage("dabba-hub: --password-out \(passwordOut) is not a regular file", code: 2)
        }
        let configuration = options.resolveOrExit()
        let store = await HubStoreAccess.open(configuration)
        defer { store.close() }
        do {
            let exists = try await store.agent(id: id) != nil
            if exists && !rotate {
                exitWithMessage("dabba-hub: agent \(id) already exists (use --rotate to issue a new password)", code: 1)
            }
            if !exists && rotate {
                exitWithMessage("dabba-hub: agent \(id) does not exist (provision it without --rotate)", code: 1)
            }
            let password = BrokerCredentials.generatePassword()
            if let passwordOut { try BrokerCredentials.writeSecret(path: passwordOut, contents: password + "\n") }
            if !exists { try await Self.add(id, name: name, to: store) }
            do {
                try BrokerCredentials.ensureACL(path: configuration.mosquittoACLFile)
                try BrokerCredentials.setPassword(
                    file: configuration.mosquittoPasswordFile, user: id, password: password)
            } catch {
                let hint =
                    exists ? "" : "; agent \(id) was created: finish with `dabba-hub agents provision \(id) --rotate`"
                exitWithMessage("dabba-hub: \(error)\(hint)", code: 1)
            }
            print(deviceLines(configuration, password: passwordOut == nil ? password : nil), terminator: "")
            printError(
                "dabba-hub: \(rotate ? "new password for" : "provisioned") agent \(id); reload the broker: "
                    + "kill -HUP $(pidof mosquitto)")
        } catch let error as APIError {
            exitWithMessage("dabba-hub: \(error.message)", code: 1)
        } catch let error as StoreError {
            exitWithMessage("dabba-hub: \(error)", code: 1)
        } catch {
            exitWithMessage("dabba-hub: \(error)", code: 1)
        }
    }

    /// Adds the agent through the same rules as `POST /delivery` (opens the store's existential).
    static func add(_ id: String, name: String?, to store: some AgentRepository) async throws {
        try await AgentRoster(repository: store).add(id: id, name: name)
    }

    /// The device's `/etc/default/dabba-agent` lines; with `password`, the instruction and the password itself.
    func deviceLines(_ configuration: HubConfiguration, password: String?) -> String {
        var lines = [
            "# /etc/default/dabba-agent for agent \(id) (from dabba-hub agents provision)",
            "DABBA_AGENT_ID=\(id)",
            "DABBA_MQTT_HOST=\(configuration.mqttHost)",
            "DABBA_MQTT_PORT=\(configuration.mqttPort)",
            "DABBA_MQTT_USERNAME=\(id)",
            "DABBA_MQTT_PASSWORD_FILE=/etc/dabba-agent.password",
        ]
        if let password {
            lines += [
                "# Put the MQTT password below, alone on the first line, into /etc/dabba-agent.password on the",
                "# device (owner dabba-agent, mode 0600), and do not keep it in this file. It is shown only once.",
                "# mqtt-password: \(password)",
            ]
        } else if let passwordOut {
            lines.append(
                "# The MQTT password is in \(passwordOut) (mode 0600): copy it to /etc/dabba-agent.password on the device."
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `dabba-hub agents list`: every agent, with whether the broker's password file has its user.
package struct AgentsListCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List agents: id, name, created (UTC), online, and whether the broker password file has the user.")
    @OptionGroup package var options: HubOptions
    package init() {}

    package func run() async throws {
        let configuration = options.resolveOrExit()
        let store = await HubStoreAccess.open(configuration)
        defer { store.close() }
        do {
            let agents = try await store.agents()
            print(["ID", "NAME", "CREATED", "ONLINE", "BROKER_USER"].joined(separator: "\t"))
            for agent in agents {
                let broker = BrokerCredentials.hasPasswordEntry(
                    file: configuration.mosquittoPasswordFile, user: agent.id)
                let created = Date(timeIntervalSince1970: Double(agent.createdAt) / 1000).ISO8601Format()
                let online = agent.state.map { $0.online ? "yes" : "no" } ?? "-"
                let fields = [agent.id, agent.name ?? "-", created, online, broker.map { $0 ? "yes" : "no" } ?? "?"]
                print(fields.joined(separator: "\t"))
            }
        } catch {
            exitWithMessage("dabba-hub: \(error)", code: 1)
        }
    }
}

/// One line on standard error.
private func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
