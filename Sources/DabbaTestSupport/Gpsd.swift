import DabbaCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A private gpsd started with no receiver and a control socket — as Debian runs it, udev adding receivers with
/// `gpsdctl add` when they are plugged in — on a loopback port chosen by the test. ``add(_:)`` plugs a receiver in
/// (a ``FakeReceiver``) while clients are already watching.
public final class GpsdDaemon: Sendable {
    /// The TCP port gpsd listens on.
    public let port: Int
    /// gpsd's control socket (in the test directory).
    public let controlSocket: String
    let directory: TestDirectory
    private let process = Mutex<ManagedProcess?>(nil)

    public init(directory: TestDirectory, port: Int = FreePort.next()) {
        self.directory = directory
        self.port = port
        controlSocket = directory.path("gpsd-\(port).sock")
    }

    /// Starts `gpsd -N -F SOCKET -S PORT` and waits (bounded) until it listens.
    public func start(timeout: Duration = TestDeadline.generous) async throws {
        guard let executable = findExecutable("gpsd") else { throw TestSupportError("gpsd not installed") }
        let started = try ManagedProcess(
            name: "gpsd-\(port)", executable: executable,
            arguments: ["-N", "-D", "2", "-F", controlSocket, "-S", String(port)], logDirectory: directory.url)
        process.withLock { $0 = started }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if FreePort.isListening(port) && FileManager.default.fileExists(atPath: controlSocket) { return }
            if !started.isRunning { throw TestSupportError("gpsd exited early: \(started.output())") }
            try await Task.sleep(for: .milliseconds(25))
        }
        stop()
        throw TestSupportError("gpsd did not listen on \(port) within \(timeout): \(started.output())")
    }

    /// Tells gpsd over its control socket that a receiver appeared at `devicePath` (what `gpsdctl add` does);
    /// throws unless gpsd answers OK.
    public func add(_ devicePath: String) throws {
        let answer = try Self.control(socket: controlSocket, command: "+\(devicePath)\r\n")
        guard answer.hasPrefix("OK") else { throw TestSupportError("gpsd refused \(devicePath): \(answer)") }
    }

    /// What gpsd printed (debug level 2: devices added, opened, closed; clients).
    public func output() -> String { process.withLock { $0?.output() ?? "" } }

    /// SIGTERM (then SIGKILL), bounded; removes the shared memory segment gpsd exported for the port.
    public func stop() {
        process.withLock { $0 }?.stop(timeout: .seconds(3))
        GpsdDaemon.removeSharedMemory(port: port)
    }

    deinit { stop() }

    /// One command over a gpsd control socket; returns gpsd's answer (bounded: 5 s).
    static func control(socket path: String, command: String) throws -> String {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = UnixSocketAddress.withAddress(path) { connect(fd, $0, $1) }
        guard connected == 0 else { throw TestSupportError("connect to \(path) failed: errno \(errno)") }
        let command = Array(command.utf8)
        guard command.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == command.count
        else { throw TestSupportError("could not write to \(path)") }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
    }

    /// The receivers gpsd on `port` knows of (`?DEVICES;`, which opens none), as their `"path"` values; nil when
    /// gpsd did not answer within the socket timeout. Bounded: at most 64 reads.
    public static func devices(port: Int) -> [String]? {
        guard let fd = try? FreePort.connectedSocket(port: port, timeout: 2) else { return nil }
        defer { close(fd) }
        let query = Array("?DEVICES;\n".utf8)
        guard query.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == query.count
        else { return nil }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<64 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            received += buffer[0..<n]
            // gpsd greets with VERSION, then answers with one DEVICES line; only complete lines (CRLF) count. Split
            // as bytes: in a Swift String "\r\n" is one Character, which splitting on "\n" would not find.
            let complete = received.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
            if let line = complete.map({ String(decoding: $0, as: UTF8.self) })
                .first(where: { $0.contains(#""class":"DEVICES""#) })
            {
                return line.components(separatedBy: #""path":""#).dropFirst().compactMap {
                    $0.split(separator: "\"", maxSplits: 1).first.map(String.init)
                }
            }
        }
        return nil
    }

    /// Removes the SysV shared memory segment gpsd exports for `port` (key `0x4770PPPP`; gpsd never removes it),
    /// once nothing is attached.
    static func removeSharedMemory(port: Int) {
        let id = shmget(key_t(0x4770_0000 | Int32(port & 0xFFFF)), 0, 0)
        guard id >= 0 else { return }
        var info = shmid_ds()
        if shmctl(id, IPC_STAT, &info) == 0 && info.shm_nattch == 0 { _ = shmctl(id, IPC_RMID, nil) }
    }
}

/// A serial GPS receiver stand-in: a pseudo-terminal whose other end (``path``) gpsd opens like `/dev/ttyACM0`,
/// and whose NMEA the test writes.
public final class FakeReceiver: Sendable {
    /// The device gpsd opens (`/dev/pts/N`).
    public let path: String
    private let master: Int32

    public init() throws {
        let master = pty_open(O_RDWR | O_NOCTTY)
        guard master >= 0 else { throw TestSupportError("posix_openpt failed: errno \(errno)") }
        var name = [CChar](repeating: 0, count: 64)
        guard pty_grant(master) == 0, pty_unlock(master) == 0, pty_name(master, &name, name.count) == 0 else {
            close(master)
            throw TestSupportError("could not set up the pseudo-terminal: errno \(errno)")
        }
        var settings = termios()
        tcgetattr(master, &settings)
        cfmakeraw(&settings)
        tcsetattr(master, TCSANOW, &settings)
        // Non-blocking, so a write never hangs the test while nobody reads the receiver (see `write`).
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        // gpsd gives up root before it opens a receiver added later; the test's pty must be open to it.
        path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        chmod(path, 0o666)
        self.master = master
    }

    /// Writes `text` (NMEA sentences with CRLF) and returns how many bytes were taken. While gpsd does not read the
    /// receiver the pty's buffer fills and the rest is dropped, as a real receiver's UART drops what nobody reads;
    /// throws on any other failure.
    @discardableResult
    public func write(_ text: String) throws -> Int {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            guard n > 0 else { throw TestSupportError("write to \(path) failed: errno \(errno)") }
            offset += n
        }
        return offset
    }

    deinit { close(master) }
}

// glibc's pseudo-terminal calls, which the Glibc module leaves out (stdlib.h declares them only under
// _XOPEN_SOURCE); plain C functions of ints and pointers.
@_silgen_name("posix_openpt") private func pty_open(_ flags: Int32) -> Int32
@_silgen_name("grantpt") private func pty_grant(_ fd: Int32) -> Int32
@_silgen_name("unlockpt") private func pty_unlock(_ fd: Int32) -> Int32
@_silgen_name("ptsname_r") private func pty_name(_ fd: Int32, _ buffer: UnsafeMutablePointer<CChar>, _ length: Int)
    -> Int32
