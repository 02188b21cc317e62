import ArgumentParser

extension AsyncParsableCommand {
    /// Parses the command line and runs the chosen (sub)command, awaiting async ones.
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
            exit(withError: error)
        }
    }
}

private func runAsync<C: AsyncParsableCommand>(_ command: C) async throws {
    var command = command
    let body: (inout C) async throws -> Void = { try await $0.run() }
    try await body(&command)
}
