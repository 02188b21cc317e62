import ArgumentParser
import DabbaCore
import DabbaMQTT

/// `dabba-hub users …`: account administration.
public struct UsersCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Manage hub users.", subcommands: [UsersAddCommand.self])
    public init() {}
}

/// `dabba-hub users add`: creates a user of any role (the first operator comes from here).
public struct UsersAddCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Create a user (any role; the first operator comes from here).",
        discussion: "The password is the first line of --password-file, so it never appears in the process list.")
    @OptionGroup public var options: HubOptions
    @Option(help: "customer, agent, restaurant or operator.") var role: String
    @Option(help: "The user's email (their login).") var email: String
    @Option(name: .customLong("password-file"), help: "File whose first line is the password (8 to 72 bytes).")
    var passwordFile: String
    @Option(help: "Display name (default: the email's local part).") var name: String?
    @Option(name: .customLong("agent-id"), help: "For role agent: the agent this user is.") var agentID: String?
    public init() {}

    public func run() async throws {
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
        let store = HubStoreAccess.open(configuration)
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
