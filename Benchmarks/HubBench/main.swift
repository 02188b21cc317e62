import DabbaDispatch
import DabbaHub
import DabbaTestSupport
import Foundation

// `make bench` (after dabba-bench-agent): the hub's figures next to baselines measured in the same run.
// Sizes: BENCH_HUB_AGENTS (200), BENCH_HUB_FIXES (600000), BENCH_HUB_CONNECTIONS (10 publisher connections),
// BENCH_LIVE_AGENTS (1000), BENCH_LIVE_SECONDS (30); customers' feeds: BENCH_CUSTOMERS (10000),
// BENCH_CUSTOMER_AGENTS (1000), BENCH_CUSTOMER_SECONDS (60); orders over HTTP: BENCH_ORDERS_CUSTOMERS (300),
// BENCH_WRK_SECONDS (20), BENCH_WRK_CONNECTIONS (64), BENCH_WRK_THREADS (2), BENCH_WRK_ROUNDS (2).
// Offer races: BENCH_RACE_TRIALS (10000), BENCH_RACE_PARALLEL (4).
// Ingest on PostgreSQL (1, 2, 3 hubs and SQLite, each against its raw subscriber): BENCH_CLUSTER_FIXES (200000),
// BENCH_CLUSTER_HUBS (3, the most hubs). Customers' feeds through the relay (1 hub, then 2 hubs on PostgreSQL):
// BENCH_RELAY_CUSTOMERS (2000), BENCH_RELAY_AGENTS (200), BENCH_RELAY_SECONDS (30), BENCH_RELAY_HUBS (2, the most).
// The hub's dispatch round: BENCH_ROUND_ORDERS (1000), BENCH_ROUND_AGENTS (5000), BENCH_ROUND_ROUNDS (30),
// BENCH_ROUND_POLICY (batch). A real device's fixes to its customer while `dabba-sim fleet` loads the hub:
// BENCH_DEVICE_FIXES (300 measured, after 10 warm-up), BENCH_DEVICE_AGENTS (1000 other riders),
// BENCH_DEVICE_INTERVAL_MS (1013 between the receiver's fixes); the agent is `DABBA_BIN_DIR`'s (make bench: the static
// release the devices run).
// BENCH_BROKER_LIMITS=production runs the ingest and backlog benchmarks with hub/mosquitto/dabba.conf's queue limits
// instead of a queue no reader can overflow (then messages the broker drops are reported, not an error).
// Backlog ingest (100-fix messages on …/backlog) against SQLite's own batched insert: BENCH_BACKLOG_FIXES (600000,
// over BENCH_HUB_AGENTS).
// BENCH_HUB_ONLY=ingest, backlog, cluster, live, customers, relay, orders, races, round or device runs one of the ten
// (customers, relay, orders and device run `dabba-hub serve` from the same folder as separate processes). BENCH_HUB_COMMIT_INTERVAL_MS / BENCH_HUB_COMMIT_BATCH override the
// hub's keys for diagnostic ingest runs.
let environment = ProcessInfo.processInfo.environment
let only = environment["BENCH_HUB_ONLY"] ?? ""
guard
    ["", "ingest", "backlog", "cluster", "live", "customers", "relay", "orders", "races", "round", "device"].contains(
        only)
else {
    say(
        "BENCH_HUB_ONLY=\(only): expected ingest, backlog, cluster, live, customers, relay, orders, races, round or device"
    )
    exit(2)
}

/// Runs the selected benchmarks in `directory`, printing each figure as it is known.
func runBenchmarks(in directory: TestDirectory, only: String, environment: [String: String]) async throws {
    if only == "" || only == "ingest" {
        var overrides: [String: String] = [:]
        if let value = environment["BENCH_HUB_COMMIT_INTERVAL_MS"] { overrides["commit-interval-ms"] = value }
        if let value = environment["BENCH_HUB_COMMIT_BATCH"] { overrides["commit-batch"] = value }
        let production = environment["BENCH_BROKER_LIMITS"] == "production"
        var c = IngestBenchmark.Configuration(
            agents: try environmentInt("BENCH_HUB_AGENTS", default: 200),
            fixes: try environmentInt("BENCH_HUB_FIXES", default: 600_000),
            connections: try environmentInt("BENCH_HUB_CONNECTIONS", default: 10), window: 100, hubOverrides: overrides)
        if production {
            c.broker = try IngestBenchmark.productionBrokerConfig()
            c.brokerMayDrop = true
        }
        say("Hub ingest: \(c.fixes) fixes from \(c.agents) agents over \(c.connections) connections → mosquitto → hub")
        say("  broker: \(c.broker.joined(separator: ", "))\(production ? " (production's limits)" : "")")
        say("  (QoS 1, one fix per message on dabba/v1/agents/{id}/fix; raw subscriber on the same stream, same run)")
        let loadBefore = loadAverage()
        let r = try await IngestBenchmark.run(c, directory: directory)
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage())")
        // Each side's rate over what it got (with production's limits the broker may drop some for either reader).
        let rawRate = Double(r.rawReceived) / r.rawSeconds
        let hubRate = Double(r.rowsStored) / r.hubSeconds
        say(
            String(
                format: "  publishers: %d fixes PUBACKed in %.2f s (%.0f fixes/s offered)",
                r.fixes, r.publishSeconds, Double(r.fixes) / r.publishSeconds))
        say(
            String(
                format: "  raw libmosquitto subscriber: %.2f s first publish → last received, %.0f fixes/s",
                r.rawSeconds, rawRate))
        say(
            "  hub ingest (\(r.hubSettings)): "
                + String(
                    format: "%.2f s first publish → all committed, %.0f fixes/s committed",
                    r.hubSeconds, hubRate))
        say(String(format: "  ratio hub / raw: %.2f× (target ≥ 0.8×)", hubRate / rawRate))
        if production {
            // A fix the broker dropped never reaches the hub: the hub commits fewer, and the rate counts those it got.
            let lost = r.fixes - r.rowsStored
            BenchReport.record(
                figure: "hub ingest, live lane, vs raw subscriber, production broker limits",
                target: "≥ 0.8×, 0 dropped",
                value: String(
                    format:
                        "%.2f× (%.0f vs %.0f fixes/s); the broker dropped %d of %d fixes for the hub, %d for the raw subscriber; %d seqs acked",
                    hubRate / rawRate, hubRate, rawRate, lost, r.fixes, r.fixes - r.rawReceived, r.acked),
                met: hubRate / rawRate >= 0.8 && lost == 0 && r.rawReceived == r.fixes,
                command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=ingest BENCH_BROKER_LIMITS=production")
        } else {
            BenchReport.record(
                figure: "hub ingest, live lane, vs raw subscriber", target: "≥ 0.8×",
                value: String(
                    format: "%.2f× (%.0f vs %.0f fixes/s, %d fixes; every seq acked to its agent)", hubRate / rawRate,
                    hubRate, rawRate, r.fixes),
                met: hubRate / rawRate >= 0.8, command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=ingest")
        }
        say(
            String(
                format:
                    "  commits: %d, mean %.0f fixes per commit, mean %.2f ms per commit; first commit %.3f s after start",
                r.commits, Double(r.fixes) / Double(max(1, r.commits)),
                1000 * r.commitSecondsTotal / Double(max(1, r.commits)),
                r.hubFirstCommit))
        say(
            "  store: \(r.rowsStored) position rows (expected \(r.fixes)); rejected \(r.rejected); raw duplicates \(r.rawRepeats)"
        )
        say(
            "  acks to the agents (subscriber on dabba/v1/agents/+/ack): \(r.acked) of \(r.fixes) seqs acked; "
                + "agents not fully acked \(r.agentsNotFullyAcked); malformed acks \(r.malformedAcks)")
        guard production || r.rowsStored == r.fixes, r.rejected == 0 else {
            throw BenchError(
                "ingest: the store holds \(r.rowsStored) rows, expected \(r.fixes) (rejected \(r.rejected))")
        }
        guard r.acked == r.rowsStored, production || r.agentsNotFullyAcked == 0, r.malformedAcks == 0 else {
            throw BenchError("ingest: \(r.acked) of \(r.fixes) seqs acked to their agents")
        }
    }

    if only == "" || only == "backlog" {
        let agents = try environmentInt("BENCH_HUB_AGENTS", default: 200)
        let fixes = try environmentInt("BENCH_BACKLOG_FIXES", default: 600_000)
        let batch = 100
        say(
            "Hub ingest of backlog messages: \(fixes) fixes from \(agents) agents, \(batch) fixes per message on "
                + "…/backlog (as the agent sends them) → mosquitto → hub, against SQLite's own batched insert")
        let loadBefore = loadAverage()
        let sqlite = try await SQLiteInsertBaseline.run(
            directory: directory, agents: agents, perAgent: fixes / agents, batch: batch,
            logger: benchLogger("hub-bench-backlog"))
        say(
            String(
                format: "  SQLite alone (the hub's schema, pragmas and INSERT, %d rows per transaction): %d rows in "
                    + "%.2f s, %.0f rows/s", batch, sqlite.rows, sqlite.seconds, sqlite.rowsPerSecond))
        var c = IngestBenchmark.Configuration(
            agents: agents, fixes: fixes, connections: try environmentInt("BENCH_HUB_CONNECTIONS", default: 10),
            window: 100, hubOverrides: [:])
        c.fixesPerMessage = batch
        // With production's limits this is a reconnect storm in the shape agents send it: every agent's backlog at
        // once, 100 fixes a message.
        let production = environment["BENCH_BROKER_LIMITS"] == "production"
        if production {
            c.broker = try IngestBenchmark.productionBrokerConfig()
            c.brokerMayDrop = true
            say("  broker: \(c.broker.joined(separator: ", ")) (production's limits)")
        }
        let r = try await IngestBenchmark.run(c, directory: directory)
        let hubRate = Double(r.rowsStored) / r.hubSeconds
        let rawRate = Double(r.rawReceived) / r.rawSeconds
        let ratio = hubRate / sqlite.rowsPerSecond
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage())")
        say(
            String(
                format: "  raw libmosquitto subscriber on …/backlog: %.2f s, %.0f fixes/s; publishers done in %.2f s",
                r.rawSeconds, rawRate, r.publishSeconds))
        say(
            String(
                format: "  hub (\(r.hubSettings)): %d rows in %.2f s = %.0f fixes/s committed, %d commits; acked %d "
                    + "of %d (agents not fully acked: %d); rejected %d", r.rowsStored, r.hubSeconds, hubRate, r.commits,
                r.acked, r.fixes, r.agentsNotFullyAcked, r.rejected))
        say(
            String(
                format: "  hub / SQLite alone: %.2f× (target ≥ 0.5×); hub / raw subscriber: %.2f×", ratio,
                hubRate / rawRate))
        if production {
            say(
                "  dropped by the broker: \(r.fixes - r.rowsStored) of \(r.fixes) fixes for the hub, "
                    + "\(r.fixes - r.rawReceived) for the raw subscriber")
            BenchReport.record(
                figure:
                    "hub ingest of backlog messages (\(batch) fixes each, every agent's backlog at once) with "
                    + "production broker limits",
                target: "0 dropped, ≥ 0.5× SQLite",
                value: String(
                    format: "%.2f× SQLite (%.0f vs %.0f fixes/s); the broker dropped %d of %d fixes for the hub, %d "
                        + "for the raw subscriber; %d acked", ratio, hubRate, sqlite.rowsPerSecond,
                    r.fixes - r.rowsStored, r.fixes, r.fixes - r.rawReceived, r.acked),
                met: ratio >= 0.5 && r.rowsStored == r.fixes && r.rawReceived == r.fixes && r.acked == r.fixes,
                command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=backlog BENCH_BROKER_LIMITS=production")
        } else {
            BenchReport.record(
                figure:
                    "hub ingest of backlog messages (\(batch) fixes each) vs SQLite's own batched insert (\(batch) rows "
                    + "per transaction, same run)",
                target: "≥ 0.5×",
                value: String(
                    format: "%.2f× (%.0f vs %.0f fixes/s; %d of %d acked)", ratio, hubRate, sqlite.rowsPerSecond,
                    r.acked, r.fixes),
                met: ratio >= 0.5 && r.rowsStored == r.fixes && r.acked == r.fixes,
                command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=backlog")
        }
    }

    if only == "" || only == "cluster" {
        try await ClusterIngest.run(environment: environment, directory: directory)
    }

    if only == "" || only == "live" {
        let c = LiveLatencyBenchmark.Configuration(
            agents: try environmentInt("BENCH_LIVE_AGENTS", default: 1000),
            seconds: try environmentInt("BENCH_LIVE_SECONDS", default: 30),
            connections: try environmentInt("BENCH_HUB_CONNECTIONS", default: 10))
        say("Live feed: \(c.agents) agents × 1 Hz for \(c.seconds) s → mosquitto → hub → WebSocket /v1/fleet/live")
        say("  (publish instant → frame receipt, one clock; raw MQTT subscriber on the same broker as the baseline)")
        let loadBefore = loadAverage()
        let r = try await LiveLatencyBenchmark.run(c, directory: directory)
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage())")
        say(
            "  fixes published: \(r.published) (scheduler at most \(String(format: "%.2f", r.publishLateMaxMS)) ms late)"
        )
        say("  raw MQTT subscriber: \(r.raw.summary.line); missed \(r.raw.lost), duplicates \(r.raw.repeats)")
        say("  hub WebSocket feed:  \(r.hub.summary.line); lost \(r.hub.lost), merged by coalescing \(r.hub.coalesced)")
        say(
            String(
                format: "  hub p99 %.2f ms (target ≤ 20 ms); the hub adds %.2f ms at p50, %.2f ms at p99",
                r.hub.summary.p99, r.hub.summary.p50 - r.raw.summary.p50, r.hub.summary.p99 - r.raw.summary.p99))
        if r.otherFrames > 0 { say("  other frames (snapshot excluded): \(r.otherFrames)") }
        BenchReport.record(
            figure: "hub live feed, \(c.agents) agents × 1 Hz, p99 (lost frames count as misses)", target: "≤ 20 ms",
            value: String(format: "%.2f ms (lost %d, merged %d)", r.hub.summary.p99, r.hub.lost, r.hub.coalesced),
            met: r.hub.summary.p99 <= 20, command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=live")
    }

    if only == "" || only == "customers" {
        let c = CustomersBenchmark.Configuration(
            customers: try environmentInt("BENCH_CUSTOMERS", default: 10_000),
            agents: try environmentInt("BENCH_CUSTOMER_AGENTS", default: 1_000),
            seconds: try environmentInt("BENCH_CUSTOMER_SECONDS", default: 60),
            connections: try environmentInt("BENCH_HUB_CONNECTIONS", default: 10),
            connectConcurrency: try environmentInt("BENCH_CUSTOMER_CONNECT_CONCURRENCY", default: 100))
        say(
            "Customers' live feeds: \(c.customers) WebSockets on /v1/orders/{id}/live, \(c.agents) agents × 1 Hz for "
                + "\(c.seconds) s (\(c.customers / max(1, c.agents)) orders per agent) → mosquitto → dabba-hub serve (own process)"
        )
        say("  (publish instant → each customer's position frame, one clock; raw MQTT subscriber as the baseline)")
        let loadBefore = loadAverage()
        let r = try await CustomersBenchmark.run(c, directory: directory)
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage()); open-file limit \(r.fdLimit)")
        say(
            "  fixes published: \(r.published) (scheduler at most \(String(format: "%.2f", r.publishLateMaxMS)) ms late)"
        )
        say("  raw MQTT subscriber:   \(r.raw.line); missed \(r.rawLost)")
        say("  customers' frames:     \(r.hub.line)")
        say(
            "  frames expected \(r.expectedFrames), received \(r.received), merged by coalescing \(r.coalesced), "
                + "lost \(r.lost), repeats \(r.repeats), unparsed \(r.stray), failed connections \(r.failedConnections)"
        )
        say(String(format: "  customers' p99 %.2f ms (target ≤ 100 ms); p50 %.2f ms", r.hub.p99, r.hub.p50))
        let customersCommand = "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=customers"
        BenchReport.record(
            figure: "\(c.customers) customers' order feeds, p99 (lost frames count as misses)", target: "≤ 100 ms",
            value: String(format: "%.2f ms (p50 %.2f ms; %d lost)", r.hub.p99, r.hub.p50, r.lost),
            met: r.hub.p99 <= 100, command: customersCommand)
        if c.customers == 10_000 {  // the target is for 10,000 feeds
            BenchReport.record(
                figure: "\(c.customers) customers' order feeds, hub peak RSS (VmHWM)", target: "≤ 400 MB",
                value: String(
                    format: "%.1f MB (%.1f MB with the feeds open)", megabytes(kB: r.hwm),
                    megabytes(kB: r.rssConnected)),
                met: megabytes(kB: r.hwm) <= 400, command: customersCommand)
        }
        // /proc's "kB" are KiB: the hub's growth from idle to every feed open, per feed.
        let perFeedKiB = Double(r.rssConnected - r.rssIdle) / Double(c.customers)
        say(String(format: "  hub RSS per open feed: %.1f KiB (target ≤ 16 KiB)", perFeedKiB))
        BenchReport.record(
            figure: "\(c.customers) customers' order feeds, hub RSS per open feed (VmRSS with the feeds open − idle)",
            target: "≤ 16 KiB",
            value: String(
                format: "%.1f KiB (%.1f MB idle, %.1f MB with the feeds open)", perFeedKiB, megabytes(kB: r.rssIdle),
                megabytes(kB: r.rssConnected)),
            met: perFeedKiB <= 16, command: customersCommand)
        say(
            String(
                format:
                    "  hub RSS: %.1f MB idle, %.1f MB with %d feeds, %.1f MB max sampled, %.1f MB at end, VmHWM %.1f MB (target ≤ 400 MB)",
                megabytes(kB: r.rssIdle), megabytes(kB: r.rssConnected), c.customers, megabytes(kB: r.rssMaxSampled),
                megabytes(kB: r.rssEnd), megabytes(kB: r.hwm)))
        say(
            String(
                format: "  hub CPU during publishing: %.1f s in %d s (%.0f %% of one core); bench process RSS %.0f MB",
                r.hubCPUSeconds, c.seconds, 100 * r.hubCPUSeconds / Double(c.seconds), megabytes(kB: r.benchRSS)))
        say(
            String(
                format: "  set-up: prepare %.1f s, %d logins %.1f s, %d WebSocket handshakes + snapshots %.1f s",
                r.setupSeconds, c.customers, r.loginSeconds, c.customers, r.connectSeconds))
    }

    if only == "" || only == "relay" {
        try await RelayFeeds.run(environment: environment, directory: directory)
    }

    if only == "" || only == "orders" {
        let c = OrdersHTTPBenchmark.Configuration(
            customers: try environmentInt("BENCH_ORDERS_CUSTOMERS", default: 300),
            threads: try environmentInt("BENCH_WRK_THREADS", default: 2),
            connections: try environmentInt("BENCH_WRK_CONNECTIONS", default: 64),
            seconds: try environmentInt("BENCH_WRK_SECONDS", default: 20),
            rounds: try environmentInt("BENCH_WRK_ROUNDS", default: 2))
        say(
            "GET /v1/orders/{id} vs GET /v1/ping: wrk -t\(c.threads) -c\(c.connections) -d\(c.seconds)s, \(c.rounds) rounds, "
                + "\(c.customers) customers' own orders with their bearer tokens → dabba-hub serve (own process)")
        let loadBefore = loadAverage()
        let r = try await OrdersHTTPBenchmark.run(c, directory: directory)
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage())")
        let pings = r.runs.filter { $0.route == "/v1/ping" }
        let orders = r.runs.filter { $0.route != "/v1/ping" }
        let pingRate = pings.map(\.perSecond).reduce(0, +) / Double(max(1, pings.count))
        let orderRate = orders.map(\.perSecond).reduce(0, +) / Double(max(1, orders.count))
        say(
            String(
                format: "  mean over rounds: ping %.0f req/s, orders %.0f req/s, ratio %.2f× (target ≥ 0.5×)",
                pingRate, orderRate, orderRate / pingRate))
        BenchReport.record(
            figure: "GET /v1/orders/{id} vs a constant route (wrk)", target: "≥ 0.5×",
            value: String(format: "%.2f× (%.0f vs %.0f req/s)", orderRate / pingRate, orderRate, pingRate),
            met: orderRate / pingRate >= 0.5, command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=orders")
        say(
            String(
                format: "  hub: RSS %.1f MB, VmHWM %.1f MB, CPU %.1f s over the wrk runs",
                megabytes(kB: r.hubRSS.rss), megabytes(kB: r.hubRSS.hwm), r.hubCPUSeconds))
    }

    if only == "" || only == "races" {
        let c = RacesBenchmark.Configuration(
            trials: try environmentInt("BENCH_RACE_TRIALS", default: 10_000),
            parallel: try environmentInt("BENCH_RACE_PARALLEL", default: 4))
        say(
            "Offer races: \(c.trials) trials, \(c.parallel) at a time; per trial three hubs on one SQLite file race: "
                + "accept (hub A), the due offer's lapse in a dispatch round (hub B), PUT /delivery completion (hub C)")
        let loadBefore = loadAverage()
        let r = try await RacesBenchmark.run(c, directory: directory)
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage())")
        say("  outcomes: accepted \(r.accepted), lapsed \(r.expired); delivered within the race \(r.delivered)")
        let t = LatencySummary(milliseconds: r.trialMilliseconds)
        say(
            String(
                format: "  %d trials in %.1f s; per trial (race + checks) p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                r.trials, r.seconds, t.p50, t.p99, t.max))
        say(
            "  trials with exactly one outcome: \(r.trials - Set(r.violations.map { $0.prefix { $0 != ":" } }).count) of \(r.trials)"
                + " (violations: \(r.violations.count))")
        for violation in r.violations.prefix(20) { say("    \(violation)") }
        BenchReport.record(
            figure: "offer races, \(c.trials) trials", target: "exactly one outcome each",
            value: "\(r.trials - Set(r.violations.map { $0.prefix { $0 != ":" } }).count) of \(r.trials)",
            met: r.violations.isEmpty && r.trials == c.trials, command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=races"
        )
        guard r.violations.isEmpty, r.trials == c.trials else {
            throw BenchError("races: \(r.violations.count) violations in \(r.trials) trials")
        }
    }

    if only == "" || only == "round" {
        let c = DispatchRoundBenchmark.Configuration(
            orders: try environmentInt("BENCH_ROUND_ORDERS", default: 1000),
            agents: try environmentInt("BENCH_ROUND_AGENTS", default: 5000),
            rounds: try environmentInt("BENCH_ROUND_ROUNDS", default: 30),
            policy: environment["BENCH_ROUND_POLICY"] ?? "batch")
        say(
            "Dispatch round in the hub: \(c.orders) waiting cash orders × \(c.agents) agents on shift, policy \(c.policy), "
                + "\(c.rounds) rounds (SQLite store, offers published to mosquitto; each round from the same state)")
        let loadBefore = loadAverage()
        let r = try await DispatchRoundBenchmark.run(c, directory: directory)
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage())")
        say(String(format: "  market prepared in %.1f s", r.setupSeconds))
        let round = LatencySummary(milliseconds: r.roundMilliseconds)
        let algorithm = LatencySummary(milliseconds: r.algorithmMilliseconds)
        say(
            String(
                format:
                    "  full round (reads, policy, offer transactions, decisions, publishes): p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                round.p50, round.p99, round.max))
        say(
            String(
                format:
                    "  baseline, the policy alone on the same orders and agents: p50 %.1f ms, p99 %.1f ms; round / policy p99 = %.1f×",
                algorithm.p50, algorithm.p99, round.p99 / Swift.max(1e-9, algorithm.p99)))
        say(
            "  the round's steps as the hub times them (dabba_dispatch_round_seconds), p50 / p99 ms: "
                + DispatchRoundTimings.Phase.allCases.map { phase in
                    let s = LatencySummary(milliseconds: r.phaseMilliseconds[phase] ?? [])
                    return phase.rawValue + String(format: " %.1f / %.1f", s.p50, s.p99)
                }.joined(separator: ", "))
        if !r.algorithmProfiles.isEmpty {
            let p = r.algorithmProfiles
            func p50(_ seconds: (BatchRoundProfile) -> Double) -> Double {
                LatencySummary(milliseconds: p.map { seconds($0) * 1000 }).p50
            }
            say(
                String(
                    format:
                        "  the policy alone, p50 ms: candidate lists %.1f, matching %.1f, pricing %.1f; passes %d–%d; fast path in %d of %d",
                    p50(\.candidateSeconds), p50(\.matchingSeconds), p50(\.pricingSeconds),
                    p.map(\.passes).min() ?? 0, p.map(\.passes).max() ?? 0, p.filter(\.fastPath).count, p.count))
        }
        // Which rounds make the tail (p99 of 30 is the slowest): the first after the hub opened its store, or any.
        say(
            "  rounds in order, ms (total; offers): "
                + r.roundMilliseconds.indices.map { i in
                    String(format: "%.0f;%.0f", r.roundMilliseconds[i], r.phaseMilliseconds[.offers]?[i] ?? 0)
                }.joined(separator: " "))
        let flat = LatencySummary(milliseconds: r.oneReadyTimeMilliseconds)
        say(
            String(
                format:
                    "  diagnostic, the policy alone on the same orders all ready at one instant: p50 %.1f ms, p99 %.1f ms",
                flat.p50, flat.p99))
        let offers = r.offersPerRound
        say(
            "  offers per round: \(offers.min() ?? 0)–\(offers.max() ?? 0) (of \(c.orders) orders); published to the "
                + "agents' tasks topics: \(r.published) of \(offers.reduce(0, +))")
        BenchReport.record(
            figure:
                "hub dispatch round, \(c.orders) orders × \(c.agents) agents, p99 (store, policy, offers, publishes)",
            target: "≤ 100 ms",
            value: String(
                format: "%.1f ms (p50 %.1f ms; policy alone p99 %.1f ms = %.1f× less; %d–%d offers per round)",
                round.p99, round.p50, algorithm.p99, round.p99 / Swift.max(1e-9, algorithm.p99), offers.min() ?? 0,
                offers.max() ?? 0),
            met: round.p99 <= 100, command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=round")
    }

    if only == "" || only == "device" {
        let c = DeviceLatencyBenchmark.Configuration(
            fixes: try environmentInt("BENCH_DEVICE_FIXES", default: 300), warmUp: 10,
            otherAgents: try environmentInt("BENCH_DEVICE_AGENTS", default: 1000),
            interval: .milliseconds(try environmentInt("BENCH_DEVICE_INTERVAL_MS", default: 1013)))
        say(
            "A device's fixes to its customer: receiver (pty) → gpsd → dabba-agent (outbox) → mosquitto → dabba-hub serve "
                + "→ the customer's WebSocket, \(c.fixes) fixes, while dabba-sim fleet runs \(c.otherAgents) other riders × 1 Hz"
        )
        say("  (one clock: receiver write, gpsd's TPV at a plain gpsd client, the customer's position frame)")
        let loadBefore = loadAverage()
        let r = try await DeviceLatencyBenchmark.run(c, directory: directory)
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage())")
        say("  receiver → gpsd client:  \(r.receiverToGpsd.line)")
        say("  gpsd → customer:         \(r.gpsdToCustomer.line)")
        say("  receiver → customer:     \(r.receiverToCustomer.line)")
        say(
            String(
                format:
                    "  hub: %d agents online, %.0f fixes/s committed over %.0f s, %.0f %% of a core; not reported by "
                    + "gpsd %d, lost %d", r.agentsOnline, r.hubCommittedPerSecond, r.seconds, r.hubCPUPercent,
                r.notReportedByGpsd, r.lost))
        say("  \(r.fleetSummary)")
        BenchReport.record(
            figure:
                "gpsd → customer's frame through a real dabba-agent, \(c.otherAgents) other agents × 1 Hz (dabba-sim fleet), p99",
            target: "≤ 25 ms",
            value: String(
                format:
                    "%.2f ms (p50 %.2f ms; %d fixes, %d lost; receiver → customer p99 %.2f ms; hub at %.0f fixes/s)",
                r.gpsdToCustomer.p99, r.gpsdToCustomer.p50, r.gpsdToCustomer.count, r.lost, r.receiverToCustomer.p99,
                r.hubCommittedPerSecond),
            met: r.gpsdToCustomer.p99 <= 25, command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=device")
    }
}

var failed = false
do {
    let directory = try TestDirectory("dabba-bench-hub")
    do { try await runBenchmarks(in: directory, only: only, environment: environment) } catch {
        say("dabba-bench-hub: \(error)")
        failed = true
    }
    directory.remove()
} catch {
    say("dabba-bench-hub: \(error)")
    failed = true
}
exit(failed ? 1 : 0)
