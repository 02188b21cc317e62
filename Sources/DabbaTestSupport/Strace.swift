import Foundation

/// strace, to hold one system call of a real server for a while and so open, at will, a window a loaded machine
/// opens by chance (`-e inject=SYSCALL:delay_enter=MICROSECONDS:when=N`).
public enum Strace {
    /// True when strace is installed and may trace here: ptrace permitted and delay injection supported (strace
    /// ≥ 4.22). Containers that forbid ptrace make this false.
    public static let canInjectDelays: Bool = {
        guard let strace = findExecutable("strace"), let truth = findExecutable("true") else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: strace)
        process.arguments = ["-qq", "-o", "/dev/null", "-e", "inject=getpid:delay_enter=1", truth]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try ManagedProcess.withSignalsUnblocked { try process.run() } } catch { return false }
        process.waitUntilExit()
        return process.terminationReason == .exit && process.terminationStatus == 0
    }()

    /// Writes `DIRECTORY/strace-bin/PROGRAM`, a script that runs the real `program` (with its arguments and
    /// environment) under `strace -f -e inject=INJECTION`, and returns that directory — to put first where the caller
    /// looks for `program` (gpsfake: `GPSD_HOME`).
    public static func wrapper(for program: String, in directory: TestDirectory, injecting injection: String) throws
        -> String
    {
        guard let strace = findExecutable("strace") else { throw TestSupportError("strace not installed") }
        guard let real = findExecutable(program) else { throw TestSupportError("\(program) not installed") }
        let bin = directory.path("strace-bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let script = "#!/bin/sh\nexec \(strace) -f -qq -o /dev/null -e inject=\(injection) \(real) \"$@\"\n"
        let path = bin + "/" + program
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return bin
    }
}
