import ArgumentParser

extension AsyncParsableCommand {
    /// The exit status of a usage error (an unknown option, a missing argument): 2, as for bad configuration.
    public static var usageExitStatus: Int32 { 2 }

    /// Parses the command line and runs the chosen (sub)command, awaiting async ones; a usage error exits 2.
    ///
    /// Executables call this from `main.swift`: there, `Self.main()` resolves to `ParsableCommand`'s synchronous
    /// entry point, which refuses async subcommands, and `command.run()` on an existential to the synchronous
    /// requirement, which prints help. Going through a generic closure pins the async requirement.
    public static func runMain() async {
        do {
            let command = try await asyncParseAsRoot()
            if let asyncCommand = command as? any AsyncParsableCommand {
                try await runAsync(asyncCommand)
            } else {
                var command = command
                try command.run()
            }
        } catch {
            // ArgumentParser's usage errors exit 64 (EX_USAGE); ours are documented as 2, the status the systemd
            // units name in RestartPreventExitStatus= (a daemon started with bad arguments is not restarted).
            if exitCode(for: error) == .validationFailure {
                exitWithMessage(fullMessage(for: error), code: usageExitStatus)
            }
            exit(withError: error)
        }
    }
}

private func runAsync<C: AsyncParsableCommand>(_ command: C) async throws {
    var command = command
    let body: (inout C) async throws -> Void = { try await $0.run() }
    try await body(&command)
}
