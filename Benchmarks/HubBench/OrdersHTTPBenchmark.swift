import DabbaCore
import DabbaHub
import DabbaTestSupport
import Foundation

/// `GET /v1/orders/{id}` throughput with `wrk` against `dabba-hub serve` as its own process over a prepared
/// database, next to the hub's constant `GET /v1/ping` in the same run (same process, same middleware, same wrk
/// settings). Each customer signs in over HTTP first; a wrk Lua script walks the customers round robin, asking
/// for each customer's own order with that customer's bearer token. Rounds alternate ping, order, ping, order… so
/// both routes see the same drift in the machine's load.
enum OrdersHTTPBenchmark {
    struct Configuration {
        var customers: Int
        var threads: Int
        var connections: Int
        var seconds: Int
        var rounds: Int
    }

    /// One wrk run.
    struct Run {
        var route: String
        var requests: Int
        var perSecond: Double
        var p50: Double
        var p90: Double
        var p99: Double
        var errors: String
        var loadAfter: String
    }

    struct Result {
        var runs: [Run]
        var hubRSS: (rss: Int, hwm: Int)
        var hubCPUSeconds: Double
    }

    static func run(_ c: Configuration, directory: TestDirectory) async throws -> Result {
        let logger = benchLogger("hub-bench-orders")
        guard let wrk = findExecutable("wrk") else {
            throw BenchError("wrk is not installed (Debian package wrk; `make deps` installs it)")
        }
        let broker = try await MosquittoBroker.started(directory: directory, extraConfig: IngestBenchmark.brokerConfig)
        defer { broker.stop() }
        let database = directory.path("orders.db")
        let market = try await PreparedMarket.create(
            path: database, customers: c.customers, agents: max(1, c.customers / 10), logger: logger)
        let hub = try await HubProcess(database: "sqlite:" + database, mqttPort: broker.port, directory: directory)
        defer { hub.stop() }
        let tokens = try await market.signIn(port: hub.httpPort)

        // Sanity: the script's first request answers 200 with the order, and ping answers {"ok":true}.
        let sample = try LoopbackHTTP.get(
            port: hub.httpPort, path: "/v1/orders/" + PreparedMarket.orderID(0), bearer: tokens[0])
        guard sample.status == 200, sample.json["id"] as? String == PreparedMarket.orderID(0) else {
            throw BenchError("GET /v1/orders/\(PreparedMarket.orderID(0)): HTTP \(sample.status) \(sample.text)")
        }
        let ping = try LoopbackHTTP.get(port: hub.httpPort, path: "/v1/ping")
        guard ping.status == 200, ping.text == #"{"ok":true}"# else {
            throw BenchError("GET /v1/ping: HTTP \(ping.status) \(ping.text)")
        }
        say("  GET /v1/orders/{id} answers \(sample.body.count) bytes; /v1/ping \(ping.body.count) bytes")

        let script = directory.path("orders.lua")
        try luaScript(tokens: tokens).write(toFile: script, atomically: true, encoding: .utf8)
        let base = "http://127.0.0.1:\(hub.httpPort)"
        let cpuBefore = hub.cpuSeconds()
        var runs: [Run] = []
        for round in 1...c.rounds {
            for (route, extra) in [("/v1/ping", [String]()), ("/v1/orders/{id}", ["-s", script])] {
                let url = route == "/v1/ping" ? base + "/v1/ping" : base + "/"
                let arguments =
                    ["-t\(c.threads)", "-c\(c.connections)", "-d\(c.seconds)s", "--latency", "--timeout", "5s"]
                    + extra + [url]
                let output = try runWrk(wrk, arguments: arguments, limit: .seconds(c.seconds + 30))
                var run = try parse(output, route: route)
                guard !run.errors.contains("Non-2xx") else { throw BenchError("\(route): \(run.errors)") }
                run.loadAfter = loadAverage()
                say(
                    String(
                        format: "  round %d %-16@ %8.0f req/s, p50 %6.2f ms, p90 %6.2f ms, p99 %6.2f ms, %@ (load %@)",
                        round, route as NSString, run.perSecond, run.p50, run.p90, run.p99, run.errors as NSString,
                        run.loadAfter as NSString))
                runs.append(run)
            }
        }
        let memory = hub.memory()
        return Result(runs: runs, hubRSS: memory, hubCPUSeconds: hub.cpuSeconds() - cpuBefore)
    }

    /// Round robin over (order, token) pairs, per wrk thread.
    static func luaScript(tokens: [String]) -> String {
        var lines = ["local paths = {", "}", "local tokens = {", "}"]
        lines[0] =
            "local paths = {"
            + tokens.indices.map { #""/v1/orders/\#(PreparedMarket.orderID($0))""# }
            .joined(separator: ",") + "}"
        lines[2] = "local tokens = {" + tokens.map { #""Bearer \#($0)""# }.joined(separator: ",") + "}"
        lines.removeAll { $0 == "}" }
        return lines.joined(separator: "\n") + """

            local n = #paths
            local i = math.random(n) - 1
            request = function()
              i = i % n + 1
              return wrk.format("GET", paths[i], { ["Authorization"] = tokens[i] })
            end

            """
    }

    /// Runs wrk with a deadline (killed past it); its standard output.
    static func runWrk(_ wrk: String, arguments: [String], limit: Duration) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrk)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try ManagedProcess.withSignalsUnblocked { try process.run() }
        let collected = Cell<Data>(Data())
        let reader = Thread {
            collected.value = pipe.fileHandleForReading.readDataToEndOfFile()
        }
        reader.start()
        let deadline = ContinuousClock.now + limit
        while process.isRunning && ContinuousClock.now < deadline { usleep(50_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw BenchError("wrk did not finish within \(limit)")
        }
        let end = ContinuousClock.now + .seconds(5)
        while !reader.isFinished && ContinuousClock.now < end { usleep(10_000) }
        let text = String(decoding: collected.value, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw BenchError("wrk exited \(process.terminationStatus): \(text)")
        }
        return text
    }

    /// Requests/sec, the latency distribution's 50/90/99 % lines, and errors (non-2xx, socket errors).
    static func parse(_ output: String, route: String) throws -> Run {
        func milliseconds(_ text: Substring) -> Double? {
            for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(suffix) {
                return Double(text.dropLast(suffix.count)).map { $0 * scale }
            }
            return nil
        }
        var run = Run(
            route: route, requests: 0, perSecond: 0, p50: .nan, p90: .nan, p99: .nan, errors: "no errors",
            loadAfter: "?")
        var errors: [String] = []
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first else { continue }
            if first == "Requests/sec:", words.count > 1 { run.perSecond = Double(words[1]) ?? 0 }
            if words.count > 2, words[1] == "requests", let n = Int(first) { run.requests = n }
            if words.count == 2, let value = milliseconds(words[1]) {
                switch first {
                case "50%": run.p50 = value
                case "90%": run.p90 = value
                case "99%": run.p99 = value
                default: break
                }
            }
            if line.contains("Non-2xx") || line.contains("Socket errors") {
                errors.append(line.trimmingCharacters(in: .whitespaces))
            }
        }
        guard run.perSecond > 0 else { throw BenchError("wrk output without Requests/sec:\n\(output)") }
        if !errors.isEmpty { run.errors = errors.joined(separator: "; ") }
        return run
    }
}
