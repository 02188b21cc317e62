import DabbaCore
import DabbaHub
import DabbaTestSupport
import Foundation
import HubModel
import HubPostgres
import HubSQLite
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A marketplace prepared in a SQLite file before the hub starts, for the benchmarks that run the hub as its own
/// process: one zone, one restaurant open all week with one menu item, `agents` provisioned agents
/// (`bench-0000`…), and `customers` customers (`c00000@bench.invalid`…, password `bench-password-1`, all with the
/// same bcrypt hash of cost 4), customer i owning order `o-i` (2 × the item, cash on delivery), accepted by the
/// restaurant and assigned to agent `i % agents` — status `assigned`, so its live feed shows that agent's fixes.
/// Written through the hub's own store API (the same rows the REST routes write).
struct PreparedMarket {
    static let password = "bench-password-1"
    let customers: Int
    let agents: Int

    static func email(_ customer: Int) -> String { "c" + String(format: "%05d", customer) + "@bench.invalid" }
    static func orderID(_ customer: Int) -> String { "o-" + String(format: "%05d", customer) }
    func agent(ofCustomer customer: Int) -> Int { customer % agents }

    /// Creates the rows in a new SQLite database at `path` (migrated by opening it) and closes it.
    static func create(path: String, customers: Int, agents: Int, logger: Logger) async throws -> PreparedMarket {
        let store = try SQLiteHubStore(path: path, logger: logger)
        defer { store.close() }
        return try await create(in: store, database: "sqlite:" + path, customers: customers, agents: agents)
    }

    /// Creates the rows in the empty PostgreSQL database at `url` (migrated by opening it) and closes it.
    static func create(postgres url: String, customers: Int, agents: Int, logger: Logger) async throws
        -> PreparedMarket
    {
        let store = try await PostgresHubStore.open(try PostgresStoreConfiguration(url: url), logger: logger)
        do {
            let market = try await create(in: store, database: url, customers: customers, agents: agents)
            await store.shutdown()
            return market
        } catch {
            await store.shutdown()
            throw error
        }
    }

    /// Creates the rows through `store`, the hub's store on the database `database` names.
    static func create(in store: some HubStore, database: String, customers: Int, agents: Int) async throws
        -> PreparedMarket
    {
        let configuration = try HubConfiguration.make(["database": database])
        // The JWT secret (kept in the database, so the hub process signs with it) and one cost-4 hash for all.
        let auth = try await AuthService.make(configuration: configuration, users: store, bcryptCost: 4)
        let owner = try await auth.createUser(
            email: "owner@bench.invalid", password: password, name: "Bench owner", role: .restaurant)
        for i in 0..<agents { _ = try await store.createAgent(id: BenchAgent.id(i), name: "Rider \(i)") }
        _ = try await store.createZone(
            Zone(
                id: "z-bench", name: "Bench",
                polygon: [
                    .init(lat: 22.0, lon: 87.0), .init(lat: 22.0, lon: 88.0), .init(lat: 23.0, lon: 88.0),
                    .init(lat: 23.0, lon: 87.0),
                ],
                deliveryFee: 4_000, currency: "INR"))
        let allWeek = try allWeekHours()
        _ = try await store.createRestaurant(
            Restaurant(
                id: "r-bench", name: "Bench Kitchen", address: "1 Station Road",
                location: .init(lat: 22.3300, lon: 87.3200), ownerUserID: owner.id, currency: "INR", hours: allWeek))
        _ = try await store.createSection(restaurant: "r-bench", id: "s-main", name: "Mains", position: 0)
        _ = try await store.createMenuItem(
            MenuItem(
                id: "i-thali", restaurantID: "r-bench", sectionID: "s-main", name: "Thali", price: 18_000,
                currency: "INR"))
        guard let hash = try await store.user(email: owner.email)?.passwordHash else {
            throw BenchError("prepare: the owner's hash is missing")
        }
        let now = wallClockMilliseconds()
        for i in 0..<customers {
            let user = try await store.createUser(
                email: email(i), passwordHash: hash, name: "Customer \(i)", role: .customer, agentID: nil)
            let line = OrderLine(itemID: "i-thali", name: "Thali", quantity: 2, unitPrice: 18_000, options: [])
            let order = OrderRecord(
                id: orderID(i), customerID: user.id, restaurantID: "r-bench", paymentMethod: .cod, currency: "INR",
                subtotal: 36_000, deliveryFee: 4_000, tax: 1_800, total: 41_800, address: "Flat \(i), 2 Hill Road",
                dropLat: 22.3100 + Double(i % 100) * 1e-4, dropLon: 87.3000 + Double(i / 100 % 100) * 1e-4,
                zoneID: "z-bench", createdAt: now, updatedAt: now, lines: [line])
            _ = try await store.createOrder(order, idempotencyKey: nil, requestHash: nil, actor: "customer:\(user.id)")
            _ = try await store.applyOrderChange(
                OrderChange(action: .accept, actor: "restaurant:\(owner.id)", prepMinutes: 10), to: order.id)
            _ = try await store.applyOrderChange(
                OrderChange(action: .assign, actor: "system", agent: BenchAgent.id(i % agents)), to: order.id)
        }
        return PreparedMarket(customers: customers, agents: agents)
    }

    /// Open all day, every day, in Asia/Kolkata: the benchmarks' restaurants.
    static func allWeekHours() throws -> OpeningHours {
        try OpeningHours(
            timezone: "Asia/Kolkata",
            hours: Dictionary(uniqueKeysWithValues: Weekday.allCases.map { ($0.rawValue, [["00:00", "24:00"]]) }))
    }

    /// Signs every customer in over HTTP (`POST /v1/auth/login`, on `threads` threads); their access tokens in
    /// customer order.
    func signIn(port: Int, threads: Int = 4) async throws -> [String] {
        let tokens = Cell<[String?]>(Array(repeating: nil, count: customers))
        try await onThreads(count: customers, threads: threads, name: "bench-login") { i in
            let login = try LoopbackHTTP.post(
                port: port, path: "/v1/auth/login",
                json: #"{"email":"\#(Self.email(i))","password":"\#(Self.password)"}"#)
            guard login.status == 200, let token = login.json["accessToken"] as? String else {
                throw BenchError("login of \(Self.email(i)): HTTP \(login.status) \(login.text)")
            }
            tokens.update { $0[i] = token }
        }
        return tokens.value.map { $0 ?? "" }
    }
}

/// Runs `body(i)` for i in 0..<count on `threads` native threads (blocking work such as `LoopbackHTTP`), waiting at
/// most 10 minutes; the first failure is thrown.
func onThreads(count: Int, threads: Int, name: String, _ body: @escaping @Sendable (Int) throws -> Void) async throws {
    let next = Cell<Int>(0)
    let outcome = ThreadOutcome()
    for t in 0..<threads {
        NativeThread.detach(name: "\(name)-\(t)") {
            while outcome.firstFailure == nil {
                let i: Int = {
                    var value = 0
                    next.update {
                        value = $0; $0 += 1
                    }
                    return value
                }()
                guard i < count else { break }
                do { try body(i) } catch { outcome.fail(error) }
            }
            outcome.finished.add(1, ordering: .releasing)
        }
    }
    try await waitUntil("\(name) (\(count) items)", timeout: .seconds(600), interval: .milliseconds(20)) {
        outcome.finished.load(ordering: .acquiring) == threads
    }
    if let failure = outcome.firstFailure { throw BenchError(failure) }
}

/// `dabba-hub serve` as its own process (the release binary next to this one, or `BENCH_HUB_BINARY`) over a
/// prepared database, on loopback ports; its log in the bench directory. `stop()` sends SIGTERM, then SIGKILL.
final class HubProcess: Sendable {
    let process: ManagedProcess
    let httpPort: Int

    static func binary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["BENCH_HUB_BINARY"], !path.isEmpty { return path }
        return try siblingBinary("dabba-hub")
    }

    /// Starts a hub on `database` (a `sqlite:` or `postgres://` URL) and the broker on `mqttPort`, with `extra`
    /// arguments, named `name` (its log file's name); returns once it listens.
    init(
        database: String, mqttPort: Int, directory: TestDirectory, name: String = "dabba-hub", extra: [String] = []
    ) async throws {
        httpPort = FreePort.next()
        process = try ManagedProcess(
            name: name, executable: try Self.binary(),
            arguments: [
                "serve", "--database", database, "--http-host", "127.0.0.1", "--http-port", "\(httpPort)",
                "--mqtt-host", "127.0.0.1", "--mqtt-port", "\(mqttPort)", "--log-level", "warning",
                "--payment-provider", "test",
                // Every customer signs in from this one loopback address: lift that address's sign-in limit.
                "--rate-limit-login-address", "1000000/1",
            ] + extra,
            logDirectory: directory.url)
        do {
            try await waitUntil("dabba-hub listening on \(httpPort)", timeout: .seconds(30)) {
                guard self.process.isRunning else { throw BenchError("dabba-hub exited: \(self.process.output())") }
                return FreePort.isListening(httpPort)
            }
        } catch {
            process.stop(timeout: .seconds(10))
            throw error
        }
    }

    var pid: Int32 { process.pid }

    /// VmRSS and VmHWM (peak) from `/proc/PID/status`, in kB.
    func memory() -> (rss: Int, hwm: Int) { processMemory(pid: pid) }

    /// User + system CPU seconds so far (`/proc/PID/stat`).
    func cpuSeconds() -> Double { processCPUSeconds(pid: pid) }

    func stop() { process.stop(timeout: .seconds(15)) }
}

/// VmRSS and VmHWM of a process, in kB (0 when unreadable).
func processMemory(pid: Int32) -> (rss: Int, hwm: Int) {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return 0
    }
    return (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU seconds of a process (0 when unreadable).
func processCPUSeconds(pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime 14, stime 15 (1-based) → indexes 11 and 12 here.
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Raises this process's open-file limit (soft and, as root, hard) to `wanted`; returns the soft limit in force.
/// Children (mosquitto, dabba-hub) inherit it.
func raiseOpenFileLimit(to wanted: Int) -> Int {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    var raised = rlimit(rlim_cur: rlim_t(wanted), rlim_max: max(limit.rlim_max, rlim_t(wanted)))
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
        raised = rlimit(rlim_cur: min(rlim_t(wanted), limit.rlim_max), rlim_max: limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
    }
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return Int(limit.rlim_cur)
}
