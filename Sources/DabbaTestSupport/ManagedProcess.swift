import DabbaCore
import Foundation

/// A child process started by a test (mosquitto, gpsfake, dabba-agent…). Its output goes to a log file in the
/// test's directory; it is terminated (then killed) on `stop()` and when the object goes away.
public final class ManagedProcess: @unchecked Sendable {
    public let process: Process
    public let name: String
    public let logURL: URL

    public init(
        name: String, executable: String, arguments: [String], environment: [String: String]? = nil,
        logDirectory: URL, currentDirectory: URL? = nil
    ) throws {
        self.name = name
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let logURL = logDirectory.appendingPathComponent("\(name).log")
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: logURL)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        self.logURL = logURL
        self.process = process
        try Self.withSignalsUnblocked { try process.run() }
    }

    /// Runs `body` (which spawns a child) with no signal blocked on the calling thread.
    ///
    /// Swift's worker threads block nearly every signal, and Foundation's Process spawns the child on the calling
    /// thread without resetting the mask, so the child would inherit the mask and ignore SIGTERM.
    public static func withSignalsUnblocked<T>(_ body: () throws -> T) rethrows -> T {
        var none = sigset_t()
        var saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return try body()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` (default SIGTERM) and waits up to `timeout` for exit, then SIGKILLs.
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(5)) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// SIGKILL, then reap.
    public func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGKILLs the process as soon as `condition` holds, polled every `interval` on a thread of its own, so the
    /// kill lands when the condition turns true even while other tests keep the cooperative pool busy. Kills it
    /// anyway after `timeout`; returns whether the condition held first.
    public func kill9(
        when condition: @escaping @Sendable () -> Bool, interval: Duration = .milliseconds(2),
        timeout: Duration = .seconds(30)
    ) async -> Bool {
        await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            Thread.detachNewThread { [self] in
                let deadline = ContinuousClock.now + timeout
                let pause = interval.timeInterval
                var held = false
                while !held && ContinuousClock.now < deadline {
                    held = condition()
                    if !held { Thread.sleep(forTimeInterval: pause) }
                }
                kill9()
                done.resume(returning: held)
            }
        }
    }

    /// Waits (bounded) for the process to exit by itself; returns its status, or nil on timeout.
    public func waitForExit(timeout: Duration = TestDeadline.generous) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// What the process wrote so far.
    public func output() -> String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    deinit { stop(timeout: .seconds(2)) }
}

/// A fresh temporary directory for one test, removed by `remove()`.
public struct TestDirectory: Sendable {
    public let url: URL
    public init(_ label: String = "dabba") throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Finds a tool on PATH or in the usual Debian places (mosquitto lives in /usr/sbin).
public func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    for dir in dirs {
        let candidate = dir + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Deadlines for waits on an observable event: they only bound how long a test waits for behaviour that is truly
/// absent, so they are generous (a loaded 2-core CI machine can stall a process for seconds).
public enum TestDeadline {
    /// The default for every wait on something that should happen (a message, a log line, a port, an exit).
    public static let generous: Duration = .seconds(30)
}

/// Waits (bounded) until `condition` holds, polling every `interval`.
public func eventually(
    timeout: Duration = TestDeadline.generous, interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
