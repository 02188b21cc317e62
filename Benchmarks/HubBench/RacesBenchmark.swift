import DabbaCore
import DabbaHub
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HubModel
import HubSQLite
import Logging

/// Offer races between hubs: each trial offers one order to one agent with its deadline 0–15 ms away, then three
/// hubs (three `SQLiteHubStore` connections to one database file, each with its own `Dispatcher`, as a scaled-out
/// deployment has) race, each after a random 0–15 ms start delay: hub A accepts for the agent (the device event or
/// `POST /v1/orders/{id}/offer`; refused once the deadline has passed, by its own clock), hub B runs a dispatch
/// round (which lapses the offer once due), hub C completes the agent's delivery (`PUT /delivery/{agent}`). Trials
/// run `parallel` at a time on different agents (on shift and online).
///
/// Exactly one outcome each: the offer ends accepted or expired (never both, never pending); accepted ⇔ the accept
/// call succeeded ⇔ the order has the agent; the completion succeeded ⇔ the order is delivered, which needs the
/// accept first; the order's audit trail has each action once, in order (accept, assign, pickup, deliver).
enum RacesBenchmark {
    struct Configuration {
        var trials: Int
        var parallel: Int
    }

    struct Result {
        var trials = 0
        var accepted = 0
        var expired = 0
        var delivered = 0
        var violations: [String] = []
        var seconds = 0.0
        var trialMilliseconds: [Double] = []
    }

    /// One hub's view: its own connection to the shared database and its own dispatcher.
    struct Hub {
        let store: SQLiteHubStore
        let dispatcher: Dispatcher<SQLiteHubStore>

        init(path: String, configuration: HubConfiguration, logger: Logger) throws {
            store = try SQLiteHubStore(path: path, logger: logger)
            let notifier = OrderNotifier(bus: OrderEventBus(), mqtt: nil, logger: logger)
            dispatcher = try Dispatcher(
                store: store, orders: OrderService(store: store, notifier: notifier),
                settings: DispatchConfiguration(configuration: configuration), metrics: HubMetrics(), logger: logger)
        }
    }

    static func run(_ c: Configuration, directory: TestDirectory) async throws -> Result {
        var logger = Logger(label: "bench-races")
        logger.logLevel = .critical
        let path = directory.path("races.db")
        _ = try await PreparedMarket.create(path: path, customers: 0, agents: c.parallel, logger: logger)
        let configuration = try HubConfiguration.make(["database": "sqlite:" + path, "dispatch-policy": "nearest"])
        let hubs = try (0..<3).map { _ in try Hub(path: path, configuration: configuration, logger: logger) }
        defer { hubs.forEach { $0.store.close() } }
        let customer = try await hubs[0].store.createUser(
            email: "racer@bench.invalid", passwordHash: "-", name: "Racer", role: .customer, agentID: nil)
        // Offers and accepts go only to agents on shift and online.
        for index in 0..<c.parallel {
            let agent = BenchAgent.id(index)
            try await hubs[0].store.setShift(agent: agent, onShift: true)
            try await hubs[0].store.updateState(AgentState(agent: agent, online: true), at: wallClockMilliseconds())
        }

        var result = Result()
        let start = ContinuousClock.now
        var next = 0
        var lastReport = start
        while next < c.trials {
            let batch = next..<min(c.trials, next + c.parallel)
            let outcomes = try await withThrowingTaskGroup(of: (TrialOutcome, Double).self) { group in
                for trial in batch {
                    group.addTask {
                        let began = ContinuousClock.now
                        let outcome = try await Self.trial(
                            trial, agent: BenchAgent.id(trial % c.parallel), customer: customer.id, hubs: hubs)
                        return (outcome, (ContinuousClock.now - began).inMilliseconds)
                    }
                }
                var all: [(TrialOutcome, Double)] = []
                for try await outcome in group { all.append(outcome) }
                return all
            }
            for (outcome, ms) in outcomes {
                result.trials += 1
                result.trialMilliseconds.append(ms)
                if outcome.accepted { result.accepted += 1 } else { result.expired += 1 }
                if outcome.delivered { result.delivered += 1 }
                result.violations += outcome.violations
            }
            next = batch.upperBound
            if ContinuousClock.now - lastReport > .seconds(10) {
                lastReport = ContinuousClock.now
                say("  … \(result.trials) of \(c.trials) trials, \(result.violations.count) violations")
            }
        }
        result.seconds = (ContinuousClock.now - start).seconds
        return result
    }

    struct TrialOutcome {
        var accepted: Bool
        var delivered: Bool
        var violations: [String]
    }

    /// One race; returns what happened and every broken rule.
    static func trial(_ trial: Int, agent: String, customer: Int64, hubs: [Hub]) async throws -> TrialOutcome {
        let id = "race-\(trial)"
        let now = wallClockMilliseconds()
        let line = OrderLine(itemID: "i-thali", name: "Thali", quantity: 1, unitPrice: 18_000, options: [])
        let order = OrderRecord(
            id: id, customerID: customer, restaurantID: "r-bench", paymentMethod: .cod, currency: "INR",
            subtotal: 18_000, deliveryFee: 4_000, tax: 900, total: 22_900, address: "Race \(trial)", dropLat: 22.31,
            dropLon: 87.30, zoneID: "z-bench", createdAt: now, updatedAt: now, lines: [line])
        let setup = hubs[0].store
        _ = try await setup.createOrder(order, idempotencyKey: nil, requestHash: nil, actor: "customer:\(customer)")
        _ = try await setup.applyOrderChange(
            OrderChange(action: .accept, actor: "restaurant:1", prepMinutes: 10), to: id)
        // Due within 15 ms: the round on hub B lapses it once due, and the accept on hub A is taken only when it
        // commits before then (the dispatcher's clock at the accept).
        let limits = AssignmentLimits(capacity: 1, codCashLimit: Money.maxAmount)
        let deadline = now + Int64.random(in: 0...15)
        guard
            case .offered = try await setup.createOffer(
                Offer(order: id, agent: agent, created: now, deadline: deadline), limits: limits)
        else { throw TestSupportError("trial \(trial): the offer was refused") }

        async let accepted: Bool = {
            try? await Task.sleep(for: .microseconds(Int.random(in: 0...15_000)))
            return (try? await hubs[0].dispatcher.accept(order: id, agent: agent)) != nil
        }()
        async let lapsed: Void = {
            try? await Task.sleep(for: .microseconds(Int.random(in: 0...15_000)))
            await hubs[1].dispatcher.round()
        }()
        async let completed: Bool = {
            try? await Task.sleep(for: .microseconds(Int.random(in: 0...15_000)))
            return (try? await hubs[2].dispatcher.completeDelivery(agent: agent, actor: "operator:1")) != nil
        }()
        let (acceptedOK, _, completedOK) = await (accepted, lapsed, completed)
        // Whatever the round did not see yet, the next one does once the deadline has passed (an offer never stays
        // pending past its deadline).
        let wait = deadline + 1 - wallClockMilliseconds()
        if wait > 0 { try? await Task.sleep(for: .milliseconds(wait)) }
        await hubs[1].dispatcher.round()

        var violations: [String] = []
        func check(_ rule: Bool, _ what: @autoclosure () -> String) {
            if !rule { violations.append("trial \(trial): \(what())") }
        }
        let offers = try await setup.offers(order: id)
        let states = offers.map(\.state)
        let stored = try await setup.order(id: id)
        let actions = try await setup.orderEvents(order: id).compactMap(\.action)
        check(states == [.accepted] || states == [.expired], "offer states \(states)")
        check(acceptedOK == (states == [.accepted]), "accept returned \(acceptedOK) but the offer is \(states)")
        check(
            (stored?.agentID == agent) == acceptedOK, "order agent \(stored?.agentID ?? "none"), accept \(acceptedOK)")
        check(!completedOK || acceptedOK, "completed without an accepted offer")
        check(
            (stored?.status == .delivered) == completedOK,
            "status \(String(describing: stored?.status)), completed \(completedOK)")
        let expected: [OrderAction] =
            completedOK ? [.accept, .assign, .pickup, .deliver] : acceptedOK ? [.accept, .assign] : [.accept]
        check(actions == expected, "audit trail \(actions), expected \(expected)")

        // Leave the agent free for its next trial and the queue empty.
        if acceptedOK && !completedOK {
            _ = try await hubs[2].dispatcher.completeDelivery(agent: agent, actor: "operator:1")
        } else if !acceptedOK {
            _ = try await setup.applyOrderChange(
                OrderChange(action: .cancel, actor: "operator:1", reason: "race over"), to: id)
        }
        return TrialOutcome(accepted: acceptedOK, delivered: completedOK, violations: violations)
    }
}
