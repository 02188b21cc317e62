import DabbaCore
import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// `dabba-sim fleet`: one rider's behaviour on an injected clock, and a simulated fleet delivering a real hub's
/// order over a real mosquitto.
@Suite struct SimFleetTests {
    static func offer(_ order: String, to agent: String, cash: Int64? = 12_000) -> TaskMessage {
        TaskMessage(
            agent: agent, order: order, type: .offer, pickup: .init(name: "Kitchen", lat: 12.9760, lon: 77.6050),
            dropoff: .init(address: "Door", lat: 12.9800, lon: 77.6000), cashToCollect: cash, currency: "INR")
    }

    /// Runs `agent` one second at a time from `start` until `done` holds for what it said (at most `limit` s).
    static func run(
        _ agent: inout SimAgent, from start: Int64, seconds limit: Int, random: inout SplitMix64,
        until done: ([SimAgent.Output]) -> Bool
    ) -> (outputs: [SimAgent.Output], at: Int64) {
        var all: [SimAgent.Output] = []
        for second in 1...limit {
            let now = start + Int64(second) * 1000
            all += agent.tick(now: now, seconds: 1, random: &random)
            if done(all) { return (all, now) }
        }
        return (all, start + Int64(limit) * 1000)
    }

    static func events(_ outputs: [SimAgent.Output]) -> [AgentEvent] {
        outputs.compactMap { if case .event(let e) = $0 { e } else { nil } }
    }

    /// Three riders (sim-01…03, added to the hub) near the fixture's restaurant, quick to accept, pick up and ride.
    static func quickFleet(_ rig: BrokeredHub, around fixture: OrderFixture) async throws -> ([String], FleetSimulator)
    {
        let riders = ["sim-01", "sim-02", "sim-03"]
        for id in riders { _ = try await rig.harness.store.createAgent(id: id, name: "Sim \(id)") }
        var options = FleetSimulator.Options(agents: riders)
        options.port = rig.broker.port
        options.centre = (fixture.restaurant.location.lat, fixture.restaurant.location.lon)
        options.spreadMetres = 300
        options.behaviour.acceptProbability = 1
        options.behaviour.thinkSeconds = 0...0.5
        options.behaviour.pickupWaitSeconds = 0...1
        options.behaviour.rideSpeed = 50...50
        return (riders, FleetSimulator(options: options, logger: rig.harness.logger))
    }

    /// The riders' ids `dabba-sim fleet` uses (and the benchmark provisions): zero-padded to the count's width.
    @Test func fleetRiderIDsArePaddedToTheWidthOfTheCount() {
        #expect(FleetCommand.riderIDs(count: 3, prefix: "sim-") == ["sim-01", "sim-02", "sim-03"])
        let thousand = FleetCommand.riderIDs(count: 1000, prefix: "r")
        #expect(thousand.count == 1000 && Set(thousand).count == 1000)
        #expect(thousand.first == "r0001" && thousand[98] == "r0099" && thousand.last == "r1000")
        #expect(FleetCommand.riderIDs(count: 0, prefix: "sim-").isEmpty)
    }

    @Test func aRiderAnswersAnOfferRidesToTheRestaurantAndTheDoorAndReportsTheCash() {
        var behaviour = SimAgentBehaviour()
        behaviour.acceptProbability = 1
        behaviour.thinkSeconds = 3...3
        behaviour.pickupWaitSeconds = 10...10
        behaviour.rideSpeed = 8...8
        var rider = SimAgent(id: "sim-01", lat: 12.9700, lon: 77.6100, firstSeq: 1_000, behaviour: behaviour)
        var random = SplitMix64(seed: 7)
        let t0: Int64 = 1_800_000_000_000
        rider.receive(Self.offer("o-1", to: "sim-01"), now: t0, random: &random)
        let (outputs, _) = Self.run(&rider, from: t0, seconds: 3600, random: &random) { out in
            Self.events(out).contains { $0.type == .delivered }
        }
        let events = Self.events(outputs)
        #expect(events.map(\.type) == [.accepted, .pickedUp, .delivered], "\(events)")
        #expect(events.allSatisfy { $0.order == "o-1" && $0.agent == "sim-01" })
        #expect(events.last?.cashCollected == 12_000)
        // Answered after the think time; 0.86 km to the kitchen at 8 m/s (108 s), 10 s there, 0.70 km to the door (88 s).
        let accepted = Timestamp.parse(events[0].time)!
        #expect(accepted == t0 + 3_000)
        let picked = Timestamp.parse(events[1].time)!
        let delivered = Timestamp.parse(events[2].time)!
        #expect((110_000...125_000).contains(picked - accepted), "\(picked - accepted) ms to the kitchen")
        #expect((80_000...95_000).contains(delivered - picked), "\(delivered - picked) ms to the door")
        // At the door, then idle; every message has its own, growing seq (fixes and events share them).
        let fixes = outputs.compactMap { if case .fix(let f) = $0 { f } else { nil } }
        #expect(abs(fixes.last!.lat - 12.9800) < 0.0005 && abs(fixes.last!.lon - 77.6000) < 0.0005, "\(fixes.last!)")
        #expect(rider.phase == .idle)
        let seqs = outputs.map { output -> Int64 in
            switch output {
            case .fix(let f): f.seq
            case .event(let e): e.seq
            }
        }
        #expect(seqs == Array(1_000..<(1_000 + Int64(seqs.count))))
    }

    @Test func aRiderWhoDeclinesOrIsBusyRejectsAndACancellationEndsTheTrip() {
        var behaviour = SimAgentBehaviour()
        behaviour.acceptProbability = 0
        behaviour.thinkSeconds = 1...1
        var rider = SimAgent(id: "sim-02", lat: 12.9700, lon: 77.6100, firstSeq: 1, behaviour: behaviour)
        var random = SplitMix64(seed: 1)
        let t0: Int64 = 1_800_000_000_000
        rider.receive(Self.offer("o-1", to: "sim-02"), now: t0, random: &random)
        let first = Self.events(rider.tick(now: t0 + 1_000, seconds: 1, random: &random))
        #expect(first.map(\.type) == [.rejected] && first.first?.reason == "not now", "\(first)")

        // An operator's assignment starts a trip without an offer; a second offer meanwhile is rejected as busy.
        rider.receive(
            TaskMessage(agent: "sim-02", order: "o-2", type: .assigned, pickup: .init(lat: 12.98, lon: 77.61)),
            now: t0 + 2_000, random: &random)
        #expect(rider.phase == .toPickup(order: "o-2"))
        rider.receive(Self.offer("o-3", to: "sim-02"), now: t0 + 2_000, random: &random)
        let busy = Self.events(rider.tick(now: t0 + 3_000, seconds: 1, random: &random))
        #expect(busy.map(\.type) == [.rejected] && busy.first?.reason == "on a delivery", "\(busy)")
        rider.receive(TaskMessage(agent: "sim-02", order: "o-2", type: .cancelled), now: t0 + 4_000, random: &random)
        #expect(rider.phase == .idle)
    }

    /// A simulated fleet of three on a real mosquitto with the hub: the hub offers a confirmed cash order, a rider
    /// accepts, picks it up and delivers it with the cash; every step is the rider's own device event.
    @Test func aSimulatedFleetDeliversARealHubsOrder() async throws {
        let rig = try await BrokeredHub.start(
            "sim-fleet", ["dispatch-policy": "nearest", "dispatch-interval": "3600", "offer-timeout": "600"])
        defer { rig.stop() }
        let harness = rig.harness
        let fixture = try await OrderFixture.make(harness)
        let (riders, fleet) = try await Self.quickFleet(rig, around: fixture)

        try await harness.run(.live) { client, hub in
            #expect(await eventually { hub.mqtt.isSubscribed })
            let running = Task { try await fleet.run(duration: .seconds(300)) }
            defer { fleet.stop() }
            // On shift and online from their own messages, with fresh fixes.
            let ready = await eventually {
                let rows = (try? await harness.store.dispatchAgents()) ?? []
                return riders.allSatisfy { id in
                    rows.contains {
                        $0.agent.id == id && $0.onShift && $0.agent.state?.online == true && $0.agent.last != nil
                    }
                }
            }
            try #require(ready, "\(fleet.snapshot)")
            let order = try await DispatchTests.confirmedOrder(client, fixture)
            let delivered = await eventually(timeout: .seconds(120)) {
                (try? await harness.store.order(id: order))?.status == .delivered
            }
            let final = try await harness.store.order(id: order)
            #expect(delivered, "\(fleet.snapshot); order \(String(describing: final))")
            let trail = try await harness.store.orderEvents(order: order)
            #expect(trail.compactMap(\.action) == [.accept, .assign, .pickup, .deliver], "\(trail)")
            let rider = try #require(trail.last?.actor)
            #expect(riders.map { "agent:\($0)" }.contains(rider), "\(rider)")
            #expect(trail.last?.cashCollected == final?.total)
            let counts = fleet.snapshot
            #expect(counts.offers >= 1 && counts.accepted >= 1 && counts.deliveries == 1, "\(counts)")
            fleet.stop()
            _ = try? await running.value
        }
    }

    @Test func theEarningsGiniIsZeroWhenEqualAndGrowsWithConcentration() {
        #expect(DaySimulator.Summary.gini([5, 5, 5, 5]) == 0)
        #expect(abs(DaySimulator.Summary.gini([0, 0, 3]) - 2.0 / 3) < 1e-9)
        #expect(DaySimulator.Summary.gini([]) == 0 && DaySimulator.Summary.gini([0, 0]) == 0)
        #expect(DaySimulator.Summary.gini([1, 2, 3, 4]) < DaySimulator.Summary.gini([0, 0, 1, 9]))
    }

    /// `dabba-sim day` with `dabba-sim fleet` on a real hub over HTTP and mosquitto: customers order at a rate, the
    /// operator account plays the kitchen, the simulated riders deliver; the report counts every order delivered,
    /// with its door time, wait and offers, and the earnings of the riders on shift.
    @Test func aSimulatedDayIsDeliveredByTheSimulatedFleetAndReported() async throws {
        let rig = try await BrokeredHub.start(
            "sim-day", ["dispatch-policy": "nearest", "dispatch-interval": "2", "offer-timeout": "600"])
        defer { rig.stop() }
        let harness = rig.harness
        let fixture = try await OrderFixture.make(harness)
        let (riders, fleet) = try await Self.quickFleet(rig, around: fixture)

        try await harness.run(.live) { client, hub in
            let port = try #require(client.port)
            #expect(await eventually { hub.mqtt.isSubscribed })
            let running = Task { try await fleet.run(duration: .seconds(600)) }
            defer { fleet.stop() }
            let ready = await eventually {
                let rows = (try? await harness.store.dispatchAgents()) ?? []
                return rows.filter { riders.contains($0.agent.id) && $0.onShift && $0.agent.last != nil }.count == 3
            }
            try #require(ready, "\(fleet.snapshot)")
            var options = DaySimulator.Options(
                hub: URL(string: "http://127.0.0.1:\(port)")!, operatorEmail: fixture.operatorUser.email,
                operatorPassword: "password-1")
            options.customers = 2
            options.ordersPerMinute = 30
            options.duration = .seconds(6)
            options.settle = .seconds(180)
            options.prepMinutes = 0...0.05
            options.acceptDelay = 0...0.5
            options.radiusMetres = 400
            let summary = try await DaySimulator(options: options).run()
            let lines = DayCommand.report(summary)
            #expect(summary.placed >= 2 && summary.delivered == summary.placed, "\(lines)")
            #expect(summary.doorSeconds.count == summary.delivered && summary.doorSeconds.allSatisfy { $0 > 0 })
            #expect(summary.waitSeconds.count == summary.delivered && summary.waitSeconds.allSatisfy { $0 >= 0 })
            #expect(summary.offersPerOrder.count == summary.placed && summary.offersPerOrder.allSatisfy { $0 >= 1 })
            // The riders on shift at the start, each with what it earned (delivery fees); all fees accounted for.
            #expect(Set(summary.earnings.keys) == Set(riders), "\(summary.earnings)")
            let fees = try await harness.store.orders(OrderFilter(), after: nil, limit: 50)
                .filter { $0.status == .delivered }.reduce(Int64(0)) { $0 + $1.deliveryFee }
            #expect(summary.earnings.values.reduce(0, +) == fees, "\(summary.earnings) vs \(fees)")
            #expect((0...1).contains(summary.gini))
            #expect(lines.first?.hasPrefix("dabba-sim day: placed \(summary.placed) orders") == true, "\(lines)")
            #expect(fleet.snapshot.deliveries == summary.delivered, "\(fleet.snapshot)")
            fleet.stop()
            _ = try? await running.value
        }
    }
}
