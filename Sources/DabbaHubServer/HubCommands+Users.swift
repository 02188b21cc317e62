import ArgumentParser
import DabbaCore
import DabbaHub
import DabbaMQTT
import HubModel

/// `dabba-hub users …`: account administration.
package struct UsersCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Manage hub users.",
        subcommands: [
            UsersAddCommand.self, UsersDisableCommand.self, UsersEnableCommand.self, UsersRevokeTokensCommand.self,
        ])
    package init() {}
}

/// `dabba-hub users add`: creates a user of any role (the first operator comes from here).
package struct UsersAddCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Create a user (any role; the first operator comes from here).",
        discussion: "The password is the first line of --password-file, so it never appears in the process list.")
    @OptionGroup package var options: HubOptions
    @Option(help: "customer, agent, restaurant or operator.") var role: String
    @Option(help: "The user's email (their login).") var email: String
    @Option(name: .customLong("password-file"), help: "File whose first line is the password (8 to 72 bytes).")
    var passwordFile: String
    @Option(help: "Display name (default: the email's local part).") var name: String?
    @Option(name: .customLong("agent-id"), help: "For role agent: the agent this user is.") var agentID: String?
    package init() {}

    package func run() async throws {
        guard let role = Role(rawValue: role.lowercased()) else {
            exitWithMessage("dabba-hub: --role: expected customer, agent, restaurant or operator", code: 2)
        }
        if role == .agent && agentID == nil {
            exitWithMessage("dabba-hub: --agent-id is required for role agent", code: 2)
        }
        if role != .agent && agentID != nil { exitWithMessage("dabba-hub: --agent-id is only for role agent", code: 2) }
        let password: String
        do {
            password = try MQTTConfiguration.readPasswordFile(passwordFile)
        } catch {
            exitWithMessage("dabba-hub: --password-file: \(error)", code: 2)
        }
        let configuration = options.resolveOrExit()
        let store = await HubStoreAccess.open(configuration)
        defer { store.close() }
        do {
            let auth = try await AuthService.make(configuration: configuration, users: store)
            let user = try await auth.createUser(
                email: email, password: password, name: name ?? String(email.prefix { $0 != "@" }), role: role,
                agentID: agentID)
            print("user \(user.id) \(user.email) \(user.role.rawValue)")
        } catch let error as APIError {
            exitWithMessage("dabba-hub: \(error.message)", code: error.status == .unprocessableContent ? 2 : 1)
        } catch {
            exitWithMessage("dabba-hub: \(error)", code: 1)
        }
    }
}

/// `dabba-hub users disable --email E`: the account can no longer sign in and every token of it is revoked.
package struct UsersDisableCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "disable", abstract: "Disable a user: sign-in refused, every token revoked.")
    @OptionGroup package var options: HubOptions
    @Option(help: "The user's email.") var email: String
    package init() {}
    package func run() async throws { await changeAccess(options, email: email, disabled: true, done: "disabled") }
}

/// `dabba-hub users enable --email E`: a disabled account may sign in again (its old tokens stay revoked).
package struct UsersEnableCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "enable", abstract: "Enable a disabled user (they sign in again).")
    @OptionGroup package var options: HubOptions
    @Option(help: "The user's email.") var email: String
    package init() {}
    package func run() async throws { await changeAccess(options, email: email, disabled: false, done: "enabled") }
}

/// `dabba-hub users revoke-tokens --email E`: every access and refresh token of the user is revoked.
package struct UsersRevokeTokensCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "revoke-tokens", abstract: "Revoke every token of a user (every sign-in, every device).")
    @OptionGroup package var options: HubOptions
    @Option(help: "The user's email.") var email: String
    package init() {}
    package func run() async throws { await changeAccess(options, email: email, disabled: nil, done: "tokens revoked") }
}

/// Revokes the tokens of the user with `email`, setting `disabled` when given; prints `user ID EMAIL DONE`. Running
/// hubs refuse the tokens within `revocation-cache-seconds`.
private func changeAccess(_ options: HubOptions, email: String, disabled: Bool?, done: String) async {
    let configuration = options.resolveOrExit()
    let store = await HubStoreAccess.open(configuration)
    defer { store.close() }
    do {
        guard let user = try await store.user(email: email.trimmingSpaces) else {
            exitWithMessage("dabba-hub: no user \(email)", code: 1)
        }
        guard try await store.revokeTokens(user: user.id, disabled: disabled) else {
            exitWithMessage("dabba-hub: no user \(email)", code: 1)
        }
        print("user \(user.id) \(user.email) \(done)")
    } catch {
        exitWithMessage("dabba-hub: \(error)", code: 1)
    }
}
