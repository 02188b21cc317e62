import DabbaSim
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A private gpsd replaying an NMEA log through `gpsfake -1 -q -P PORT -c CYCLE -W WAIT FILE`, on a loopback port
/// chosen by the test (gpsfake's gpsd listens on 127.0.0.1 and ::1).
///
/// gpsfake writes its log whether or not gpsd reads it, and gpsd opens the fake device only when a client watches
/// and loses what arrives before and while it opens and probes it (measured with 3.22: the first 4 of 20 points at
/// `-c 0.1`; on a loaded CI machine the first 11, with a 4 s lead-in). `init(route:…)` therefore puts `leadIn`
/// seconds of receiver-without-fix epochs before the route, so every route point reaches a client that watches
/// within a few seconds of `start()`.
///
/// `start()` returns once gpsd lists gpsfake's receiver, and adds it itself when gpsfake's add was lost: gpsfake
/// (3.22, `gps/fake.py`) waits for gpsd's control socket *file*, which gpsd's `bind()` creates before its `listen()`,
/// then connects once and, refused, silently adds nothing — gpsd then serves clients with no receiver and the
/// replay goes nowhere. On a loaded machine gpsd can be descheduled between the two calls; that was the
/// "connected to gpsd, no fix" failure seen about once in a few loaded CI runs (gpsd's log showed no `control`
/// line at all), reproduced at will by delaying gpsd's first `listen()` under strace
/// (`GPSReaderTests.aReceiverAddLostToGpsdsListenRaceIsRedone`). Tried and dropped (2026-12-06): gpsd's `-n`
/// (gpsd then probes the device while gpsfake waits for its answer to the add, answering nobody for ~1.2 s).
///
/// Nothing is left behind: `stop()`/`kill9()` end gpsfake's whole process group (gpsfake and its gpsd), gpsfake's
/// control socket lives in the test directory (`TMPDIR`), and the SysV shared memory segment gpsd exports per port
/// (key `0x4770PPPP`) is removed.
public final class GpsFake: Sendable {
    /// The TCP port gpsd listens on.
    public let port: Int
    /// The NMEA log replayed.
    public let logPath: String
    let directory: TestDirectory
    let arguments: [String]
    let name: String
    let environment: [String: String]
    private let process = Mutex<ManagedProcess?>(nil)
    private let addedByHarness = Mutex<String?>(nil)

    /// Replays `nmea` (CRLF sentences) as written, one sentence every `cycle` seconds; gpsfake exits (status 1,
    /// "test timed out") `wait` seconds after the log ends. `environment` is added to gpsfake's (e.g. `GPSD_HOME`,
    /// where gpsfake looks for gpsd first).
    public init(
        nmea: String, directory: TestDirectory, port: Int = FreePort.next(), cycle: Double = 0.1, wait: Int = 2,
        name: String = "gpsfake", environment: [String: String] = [:]
    ) throws {
        self.port = port
        self.environment = environment
        self.directory = directory
        self.name = name
        logPath = directory.path("\(name).nmea")
        try nmea.write(toFile: logPath, atomically: true, encoding: .utf8)
        // `-D 3`: gpsd's own account (clients, the device's adding, opening, probing and closing) goes into
        // gpsfake's log, which the tests print when a fix does not arrive.
        arguments = ["-1", "-q", "-D", "3", "-P", String(port), "-c", String(cycle), "-W", String(wait), logPath]
    }

    /// Replays `route` after `leadIn` seconds of no-fix epochs (see the type's documentation).
    public convenience init(
        route: [RoutePoint], directory: TestDirectory, port: Int = FreePort.next(), cycle: Double = 0.1,
        leadIn: Double = 10.0, wait: Int = 2, name: String = "gpsfake", environment: [String: String] = [:]
    ) throws {
        let epochs = Int((leadIn / (2 * cycle)).rounded(.up))
        let start = route.first?.timeMilliseconds ?? 0
        let nmea = NMEA.noFixSentences(count: epochs, before: start) + NMEA.sentences(for: route)
        try self.init(
            nmea: nmea, directory: directory, port: port, cycle: cycle, wait: wait, name: name,
            environment: environment)
    }

    /// Starts gpsfake and waits (bounded) until its gpsd lists the receiver gpsfake replays through, adding it over
    /// gpsd's control socket when gpsfake's own add was lost (see the type's documentation).
    public func start(timeout: Duration = TestDeadline.generous) async throws {
        guard let executable = findExecutable("gpsfake") else { throw TestSupportError("gpsfake not installed") }
        var environment = ProcessInfo.processInfo.environment.merging(self.environment) { $1 }
        environment["TMPDIR"] = directory.url.path  // gpsfake's control socket goes here, removed with the directory
        let started = try ManagedProcess(  // spawns with signals unblocked, so gpsfake and gpsd honour SIGTERM
            name: name, executable: executable, arguments: arguments, environment: environment,
            logDirectory: directory.url)
        process.withLock { $0 = started }
        // The wait runs on a thread of its own: gpsfake replays its log on its own clock from now on, so a wait
        // starved of the cooperative pool (at the start of a parallel run every test wants it; one CI run under
        // heavy load saw two such waits look twice in 25 s) let the log run out before anyone watched.
        try await offPool { try self.waitUntilListed(started, timeout: timeout) }
    }

    /// Blocks until gpsd lists gpsfake's receiver (adding it when gpsfake's add was lost); throws when gpsfake exits
    /// or `timeout` passes (then stops gpsfake).
    private func waitUntilListed(_ started: ManagedProcess, timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        var receiverSince: ContinuousClock.Instant?
        var lastReceiver: String?
        repeat {
            if !started.isRunning {
                throw TestSupportError(
                    "gpsfake exited early (its receiver \(lastReceiver ?? "not found")): \(started.output())")
            }
            // gpsfake adds exactly one receiver: any device gpsd lists is it (before gpsd listens the query is refused
            // at once), so the common case needs no look at gpsfake's descriptors.
            if let listed = GpsdDaemon.devices(port: port), !listed.isEmpty { return }
            // gpsfake opens the pseudo-terminal just before it asks gpsd to add it: an add not listed a second
            // later was lost (gpsfake's own takes milliseconds; one of ours after a slow one of its is refused
            // by gpsd as "already active", harmlessly).
            if let receiver = Self.receiver(of: started.pid) {
                lastReceiver = receiver
                let since = receiverSince ?? ContinuousClock.now
                receiverSince = since
                if ContinuousClock.now - since > .seconds(1), addedByHarness.withLock({ $0 }) == nil {
                    // Refused while gpsd still has not listened: asked again on the next pass.
                    let socket = directory.path("gpsfake-\(started.pid).sock")
                    let answer = try? GpsdDaemon.control(socket: socket, command: "+\(receiver)\r\n")
                    if answer?.hasPrefix("OK") == true { addedByHarness.withLock { $0 = receiver } }
                }
            }
            usleep(25_000)
        } while ContinuousClock.now < deadline
        let listed = GpsdDaemon.devices(port: port)
        stop()
        throw TestSupportError(
            "gpsfake's gpsd on \(port) did not list its receiver within \(timeout) (it lists \(listed ?? []); "
                + "its receiver \(lastReceiver ?? "not found")): \(output())")
    }

    /// The receiver gpsd was told about by this harness rather than by gpsfake (its add having been lost), if any.
    public var receiverAddedByHarness: String? { addedByHarness.withLock { $0 } }

    /// The pseudo-terminal gpsfake replays through: of the `/dev/pts/N` it holds open, the one it made readable and
    /// writable by all for gpsd (mode 0666; gpsfake holds another, mode 0600, from its packet module), and that this
    /// process does not hold (a terminal the tests were started from).
    static func receiver(of pid: Int32) -> String? {
        let ours = Set(terminals(of: "self"))
        return terminals(of: String(pid)).first { path in
            var info = stat()
            return !ours.contains(path) && stat(path, &info) == 0 && info.st_mode & 0o006 == 0o006
        }
    }

    /// The `/dev/pts/N` a process (`self` or a pid) holds open.
    private static func terminals(of process: String) -> [String] {
        let directory = "/proc/\(process)/fd"
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)") }
            .filter { $0.hasPrefix("/dev/pts/") }
    }

    /// True while gpsfake runs.
    public var isRunning: Bool { process.withLock { $0?.isRunning ?? false } }

    /// gpsfake's pid (its process group id too), 0 before `start()`.
    public var pid: Int32 { process.withLock { $0?.pid ?? 0 } }

    /// Graceful: SIGTERM to gpsfake's gpsd (it exits in ~20 ms and gpsfake reaps it), then SIGKILL to the rest of
    /// the group (gpsfake itself would linger ~2 s); reaps gpsfake and cleans up. Bounded.
    public func stop() {
        guard let running = process.withLock({ $0 }) else { return }
        let children = Self.processes().filter { $0.ppid == running.pid }.map(\.pid)
        for child in children { kill(child, SIGTERM) }
        let deadline = ContinuousClock.now + .seconds(1)
        while running.isRunning && ContinuousClock.now < deadline
            && Self.processes().contains(where: { children.contains($0.pid) })
        {
            usleep(10_000)
        }
        killGroup(running.pid)
        running.kill9()
        cleanUp()
    }

    /// As on a crash: SIGKILL to gpsfake's whole process group at once (gpsd dies with it); returns when no member
    /// is alive, reaps gpsfake and cleans up. (The orphaned gpsd's zombie is reaped by PID 1.)
    public func kill9() {
        guard let running = process.withLock({ $0 }) else { return }
        killGroup(running.pid)
        running.kill9()
        cleanUp()
    }

    /// What gpsfake printed.
    public func output() -> String { process.withLock { $0?.output() ?? "" } }

    deinit { stop() }

    /// Foundation's Process starts each child in its own process group (pgid == pid); gpsfake's gpsd inherits it.
    private func killGroup(_ pgid: Int32) {
        guard pgid > 0 else { return }
        kill(-pgid, SIGKILL)  // ESRCH when the group is already gone: fine
        let deadline = ContinuousClock.now + .seconds(3)
        while Self.groupAlive(pgid) && ContinuousClock.now < deadline { usleep(10_000) }
    }

    /// True while a process of group `pgid` is alive (zombies, dead but not yet reaped, do not count).
    public static func groupAlive(_ pgid: Int32) -> Bool {
        processes().contains { $0.pgrp == pgid && $0.state != "Z" }
    }

    /// pid, parent, process group and state of every process, from /proc.
    static func processes() -> [(pid: Int32, ppid: Int32, pgrp: Int32, state: Character)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name in
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // "pid (comm) state ppid pgrp …"; comm may contain spaces and parentheses, hence the last ")".
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let state = fields[0].first, let ppid = Int32(fields[1]),
                let pgrp = Int32(fields[2])
            else { return nil }
            return (pid, ppid, pgrp, state)
        }
    }

    /// Removes the shared memory segment gpsd exported for this port (gpsd never removes it).
    private func cleanUp() { GpsdDaemon.removeSharedMemory(port: port) }
}
