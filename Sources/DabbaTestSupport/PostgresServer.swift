import Foundation
import Synchronization

/// A real PostgreSQL server for one test (Debian's `postgresql-15`, installed by `make deps`), on a loopback port
/// chosen by the test (``FreePort``) with its data directory in a ``TestDirectory``.
///
/// `initdb` and `postgres` refuse to run as root, so when the tests run as root (CI) both run as the `postgres`
/// system user that Debian's `postgresql-common` package creates with the server binaries, through `setpriv` (it
/// changes uid and gid and then execs, so the process the harness holds is `postgres` itself and its signals reach
/// the server, not a wrapper); run as anyone else, they run as that user. The data directory is handed to that user;
/// nothing outside the test directory is written (no Unix socket: `unix_socket_directories` is empty, the server
/// listens on 127.0.0.1 only). The superuser `dabba` signs in with a random password (SCRAM), as a hub would.
///
/// Settings for speed, safe only because the data is thrown away: `fsync`, `synchronous_commit` and
/// `full_page_writes` off, `initdb --no-sync`.
///
/// Use ``with(_:)``: it starts a server, runs the body, then stops the server (SIGINT, PostgreSQL's fast shutdown,
/// SIGKILL if it does not exit in time) and removes the directory — also when the body throws. Each test creates
/// databases of its own on it (``createDatabase(_:)``).
public final class PostgresServer: Sendable {
    /// Always loopback.
    public let host = "127.0.0.1"
    public let port: Int
    /// The superuser the server was initialised with.
    public let user = "dabba"
    public let password: String
    /// Holds `data/` (the cluster), the password file and the logs of `initdb` and the server.
    public let directory: TestDirectory
    /// How long ``start(timeout:)`` took: `initdb`, the server's start, and its first accepted connection.
    public let startDuration: Duration
    private let process: Mutex<ManagedProcess?>
    private let databases = Mutex(0)

    /// Where Debian installs PostgreSQL 15's server binaries (`DABBA_PG_BIN` overrides it).
    public static var binDirectory: String {
        ProcessInfo.processInfo.environment["DABBA_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"
    }

    private init(
        port: Int, password: String, directory: TestDirectory, process: ManagedProcess, startDuration: Duration
    ) {
        self.port = port
        self.password = password
        self.directory = directory
        self.process = Mutex(process)
        self.startDuration = startDuration
    }

    /// Starts a server, runs `body` with it, and stops and removes it afterwards, whether `body` returned or threw.
    public static func with<T: Sendable>(
        timeout: Duration = TestDeadline.generous, _ body: (PostgresServer) async throws -> T
    ) async throws -> T {
        let server = try await start(timeout: timeout)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Initialises a cluster in a fresh test directory, starts the server and waits (at most `timeout`) until it
    /// accepts connections (`pg_isready`). Throws with the logs when a step fails; nothing is left running or on disk
    /// then.
    public static func start(timeout: Duration = TestDeadline.generous) async throws -> PostgresServer {
        let began = ContinuousClock.now
        let bin = binDirectory
        guard FileManager.default.isExecutableFile(atPath: bin + "/postgres") else {
            throw TestSupportError("no PostgreSQL server in \(bin): run `make deps` (installs Debian's postgresql)")
        }
        let directory = try TestDirectory("postgres")
        do {
            let port = FreePort.next()
            let password = AccountPassword.random()
            let data = directory.path("data")
            let passwordFile = directory.path("password")
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
            try password.write(toFile: passwordFile, atomically: false, encoding: .utf8)
            let owner = try ServerAccount.current()
            try owner.own(data, mode: 0o700)
            try owner.own(passwordFile, mode: 0o600)
            try await offPool {
                try owner.runToCompletion(
                    name: "initdb", bin + "/initdb",
                    [
                        "-D", data, "-U", "dabba", "--auth=scram-sha-256", "--pwfile=" + passwordFile, "-E", "UTF8",
                        "--locale=C", "--no-sync", "--no-instructions",
                    ], logDirectory: directory.url)
            }
            let server = try await launch(owner: owner, data: data, port: port, directory: directory, timeout: timeout)
            return PostgresServer(
                port: port, password: password, directory: directory, process: server,
                startDuration: ContinuousClock.now - began)
        } catch {
            directory.remove()
            throw error
        }
    }

    /// Spawns `postgres` on `data` and `port` as `owner` and waits until it accepts connections; stops it again when
    /// it does not.
    private static func launch(
        owner: ServerAccount, data: String, port: Int, directory: TestDirectory, timeout: Duration
    ) async throws -> ManagedProcess {
        let server = try owner.spawn(
            name: "postgres", binDirectory + "/postgres",
            [
                "-D", data, "-p", "\(port)", "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            ], logDirectory: directory.url)
        do {
            try await waitUntilReady(server, port: port, timeout: timeout)
        } catch {
            try? await offPool { server.stop(signal: SIGINT, timeout: .seconds(10)) }
            throw error
        }
        return server
    }

    /// An outage: stops the server (fast shutdown, SIGINT: every session is ended, clients see their connections
    /// close) and keeps its data for ``resume(timeout:)``. Returns once the process has exited.
    public func interrupt() async throws {
        let running = process.withLock { current -> ManagedProcess? in
            defer { current = nil }
            return current
        }
        guard let running else { throw TestSupportError("postgres is not running") }
        try await offPool { running.stop(signal: SIGINT, timeout: .seconds(20)) }
    }

    /// Starts the server again on the same port and data after ``interrupt()``, and waits until it accepts
    /// connections.
    public func resume(timeout: Duration = TestDeadline.generous) async throws {
        let server = try await Self.launch(
            owner: try ServerAccount.current(), data: directory.path("data"), port: port, directory: directory,
            timeout: timeout)
        process.withLock { $0 = server }
    }

    /// Polls `pg_isready` until the server accepts connections; fails early, with its log, if the server exits.
    private static func waitUntilReady(_ server: ManagedProcess, port: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        let probe = binDirectory + "/pg_isready"
        let ready = { @Sendable () throws -> Bool in
            let check = Process()
            check.executableURL = URL(fileURLWithPath: probe)
            check.arguments = ["-q", "-h", "127.0.0.1", "-p", "\(port)", "-t", "5"]
            check.standardOutput = FileHandle.nullDevice
            check.standardError = FileHandle.nullDevice
            try check.run()
            check.waitUntilExit()
            return check.terminationStatus == 0
        }
        while ContinuousClock.now < deadline {
            if !server.isRunning {
                throw TestSupportError("postgres exited at start; its log:\n\(server.output())")
            }
            if try await offPool(ready) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        if try await offPool(ready) { return }  // once more: the last sleep may have overslept the deadline
        throw TestSupportError("postgres does not accept connections after \(timeout); its log:\n\(server.output())")
    }

    /// A `postgres://` URL for `database` (the hub's `database` setting).
    public func url(database: String) -> String {
        "postgres://\(user):\(password)@\(host):\(port)/\(database)"
    }

    /// Creates an empty database (named `name`, or `test_N` numbered in this server) and returns its name.
    public func createDatabase(_ name: String? = nil) async throws -> String {
        let name = name ?? "test_\(databases.withLock { count in count += 1; return count })"
        try await psql("CREATE DATABASE \"\(name)\"")
        return name
    }

    /// Runs one SQL command with `psql` as the superuser (in the database `postgres` unless `database` is given) and
    /// returns what it printed (unaligned, `|` between columns, no footer).
    ///
    /// Bounded by ``psqlDeadline``: a loaded clean-clone run (load ~8, several test servers at once) once had a
    /// `CREATE DATABASE` still running after the 30 s that bounded it before, and reported it as a failure with an
    /// empty log.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let (bin, port, password, user, logDirectory) = (Self.binDirectory, port, password, user, directory.url)
        let serverLog = { @Sendable [self] in String(log().suffix(2000)) }
        return try await offPool {
            let command = try ManagedProcess(
                name: "psql-\(UUID().uuidString.prefix(8))", executable: "/usr/bin/psql",
                arguments: [
                    "-X", "-q", "-A", "-P", "footer=off", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                    "\(port)", "-U", user, "-d", database, "-c", sql,
                ],
                environment: ["PGPASSWORD": password, "PATH": bin + ":/usr/bin:/bin"], logDirectory: logDirectory)
            guard let status = command.waitForExit(timeout: Self.psqlDeadline) else {
                command.kill9()
                throw TestSupportError(
                    "psql \(sql) did not finish within \(Self.psqlDeadline); its output:\n\(command.output())\n"
                        + "the server's log:\n\(serverLog())")
            }
            guard status == 0 else {
                throw TestSupportError("psql \(sql) failed (exit \(status)); its output:\n\(command.output())")
            }
            return command.output()
        }
    }

    /// How long one `psql` command may take.
    public static let psqlDeadline = TestDeadline.generous * 4

    /// The server's process id while it runs.
    public var pid: Int32? { process.withLock { $0.map(\.pid) } }

    /// True while the server process runs.
    public var isRunning: Bool { process.withLock { $0 }?.isRunning ?? false }

    /// What the server logged so far.
    public func log() -> String { process.withLock { $0 }?.output() ?? "" }

    /// Fast shutdown (SIGINT: open sessions are ended), SIGKILL after 20 s, then removes the directory. Idempotent.
    public func stop() async {
        try? await interrupt()  // throws only when the server is not running (stopped or interrupted before)
        directory.remove()
    }

    deinit {
        process.withLock { $0 }?.stop(signal: SIGINT, timeout: .seconds(5))
        directory.remove()
    }
}

/// The account PostgreSQL's programs run as: the `postgres` system user when the tests run as root (see
/// ``PostgresServer``), the current user otherwise.
struct ServerAccount: Sendable {
    /// Set when switching from root.
    var switchTo: (uid: uid_t, gid: gid_t)?

    static func current() throws -> ServerAccount {
        guard geteuid() == 0 else { return ServerAccount(switchTo: nil) }
        guard let entry = getpwnam("postgres") else {
            throw TestSupportError(
                "running as root and there is no `postgres` user (Debian's postgresql-common creates it): "
                    + "run `make deps`")
        }
        return ServerAccount(switchTo: (entry.pointee.pw_uid, entry.pointee.pw_gid))
    }

    /// Gives `path` to the account with `mode`.
    func own(_ path: String, mode: mode_t) throws {
        if let switchTo, chown(path, switchTo.uid, switchTo.gid) != 0 {
            throw TestSupportError("chown \(path) failed: errno \(errno)")
        }
        if chmod(path, mode) != 0 { throw TestSupportError("chmod \(path) failed: errno \(errno)") }
    }

    /// Starts `executable` as the account (through `setpriv` when switching; it execs, so the pid is the program's).
    func spawn(name: String, _ executable: String, _ arguments: [String], logDirectory: URL) throws -> ManagedProcess {
        guard let switchTo else {
            return try ManagedProcess(
                name: name, executable: executable, arguments: arguments, logDirectory: logDirectory)
        }
        return try ManagedProcess(
            name: name, executable: "/usr/bin/setpriv",
            arguments: ["--reuid=\(switchTo.uid)", "--regid=\(switchTo.gid)", "--clear-groups", "--", executable]
                + arguments,
            environment: ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"], logDirectory: logDirectory)
    }

    /// Runs `executable` as the account and waits (bounded) for it to succeed; throws with its log otherwise.
    /// Blocking: call it off the cooperative pool.
    func runToCompletion(name: String, _ executable: String, _ arguments: [String], logDirectory: URL) throws {
        let running = try spawn(name: name, executable, arguments, logDirectory: logDirectory)
        let status = running.waitForExit(timeout: .seconds(120))
        guard status == 0 else {
            running.stop()
            throw TestSupportError(
                "\(name) \(status.map { "exited with \($0)" } ?? "did not finish in 120 s"); its log:\n"
                    + running.output())
        }
    }
}

/// A random password for a test server's superuser.
enum AccountPassword {
    static func random() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<24).map { _ in alphabet.randomElement()! })
    }
}
