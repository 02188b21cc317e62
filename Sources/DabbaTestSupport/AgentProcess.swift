import Foundation

/// Locates binaries this package built (dabba-agent, dabba-sim) for tests that run them as real processes.
public enum BuiltProducts {
    /// `$DABBA_BIN_DIR`, else the directory of the running test bundle, else `.build/debug`.
    public static func path(of product: String) throws -> String {
        var candidates: [String] = []
        if let dir = ProcessInfo.processInfo.environment["DABBA_BIN_DIR"] { candidates.append(dir) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path)
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().path)
        candidates.append(Bundle.main.bundleURL.path)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug").path)
        for dir in candidates {
            let candidate = dir + "/" + product
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TestSupportError("cannot find the built \(product) in \(candidates)")
    }
}

/// A `dabba-agent run` daemon started by a test, on loopback ports the test chose.
public final class AgentProcess: @unchecked Sendable {
    public let agentID: String
    public let directory: TestDirectory
    public let outbox: String
    public let controlSocket: String
    public let arguments: [String]
    public let environment: [String: String]
    public private(set) var process: ManagedProcess?
    private var starts = 0

    public init(
        agentID: String = "a-1", directory: TestDirectory, mqttPort: Int, gpsdPort: Int,
        extraArguments: [String] = [], environment: [String: String] = [:], logLevel: String = "debug"
    ) {
        self.agentID = agentID
        self.directory = directory
        self.outbox = directory.path("\(agentID)-outbox.db")
        self.controlSocket = directory.path("\(agentID).sock")
        self.arguments =
            [
                "run", "--config", "/dev/null", "--agent-id", agentID, "--mqtt-port", "\(mqttPort)", "--gpsd-port",
                "\(gpsdPort)", "--outbox", outbox, "--control-socket", controlSocket, "--log-level", logLevel,
            ] + extraArguments
        var env = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("DABBA_") && $0.key != "NOTIFY_SOCKET"
        }
        env.merge(environment) { $1 }
        self.environment = env
    }

    /// Starts (or restarts) the daemon.
    public func start() throws {
        starts += 1
        process = try ManagedProcess(
            name: "\(agentID)-agent", executable: try BuiltProducts.path(of: "dabba-agent"), arguments: arguments,
            environment: environment, logDirectory: directory.url)
    }

    /// Runs `dabba-agent status --json` against this daemon: (exit status, output).
    public func status() throws -> (Int32, String) {
        try Self.runCLI(["status", "--json", "--config", "/dev/null", "--control-socket", controlSocket])
    }

    /// `status()` from async code, on a thread of its own (``runToCompletion(_:_:environment:)-async``).
    public func status() async throws -> (Int32, String) {
        try await Self.runCLI(["status", "--json", "--config", "/dev/null", "--control-socket", controlSocket])
    }

    /// Runs the agent CLI with `arguments`: (exit status, stdout+stderr).
    public static func runCLI(_ arguments: [String], environment: [String: String]? = nil) throws -> (Int32, String) {
        try runToCompletion(try BuiltProducts.path(of: "dabba-agent"), arguments, environment: environment)
    }

    /// `runCLI` from async code, on a thread of its own (``runToCompletion(_:_:environment:)-async``).
    public static func runCLI(_ arguments: [String], environment: [String: String]? = nil) async throws -> (
        Int32, String
    ) {
        try await runToCompletion(try BuiltProducts.path(of: "dabba-agent"), arguments, environment: environment)
    }

    public func stop() { process?.stop() }
    public func kill9() { process?.kill9() }
    public func output() -> String { process?.output() ?? "" }
}

/// Runs `executable` to completion from async code: (exit status, stdout and stderr together). The start and the
/// wait happen on a thread of its own (`offPool`): a process takes seconds to start on a loaded machine, and a test
/// that waited for it on one of the cooperative pool's two threads starved every other test's waits (a loaded clean
/// run: dozens of tests queued 30 s behind six such waits, in-process servers that never got to listen).
public func runToCompletion(_ executable: String, _ arguments: [String], environment: [String: String]? = nil)
    async throws -> (Int32, String)
{
    try await offPool { try runToCompletion(executable, arguments, environment: environment) }
}

/// Runs `executable` to completion: (exit status, stdout and stderr together). Blocks the calling thread: from async
/// code use the async overload.
public func runToCompletion(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws
    -> (Int32, String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try ManagedProcess.withSignalsUnblocked { try process.run() }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
