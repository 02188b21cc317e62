import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubModel
import HubPostgres
import HummingbirdBcrypt
import Logging
import Testing

@testable import DabbaHub

/// Three real `dabba-hub serve` processes in one ingest group on one PostgreSQL and one mosquitto: dispatch runs on
/// the hub holding the `dispatch` lease only; SIGKILLed, it is replaced by one of the other two within twice the
/// lease, and no order is offered twice or left waiting.
@Suite(.serialized) struct DispatcherFailoverTests {
    /// The lease the hubs run with (`dispatch-lease`): short, so the test is, yet long against a loaded machine's
    /// scheduling delays.
    static let lease: Int64 = 4_000

    /// A cash order of `a@example.com` placed, accepted and ready through `client`; its id.
    static func confirmedOrder(_ client: HubOnPostgreSQLEndToEndTests.Client) async throws -> String {
        let customer = try await client.login("a@example.com")
        let placed = try await client.placeOrder(customer, quantity: 1, method: "cod")
        let id = try #require(placed.json["id"] as? String, "\(placed)")
        let owner = try await client.login("owner@example.com")
        let accepted = try await client.send(
            "POST", "/v1/orders/\(id)/accept", token: owner, json: #"{"prepMinutes":5}"#)
        #expect(accepted.status == 200, "\(accepted)")
        // Ready: offered by the first round that runs (not later, as its preparation ends).
        let ready = try await client.send("POST", "/v1/orders/\(id)/ready", token: owner)
        #expect(ready.status == 200, "\(ready)")
        return id
    }

    /// Starts `agent`'s shift as the operator through `client`'s hub.
    static func startShift(_ agent: String, _ client: HubOnPostgreSQLEndToEndTests.Client) async throws {
        let op = try await client.login("op@example.com")
        let started = try await client.send(
            "POST", "/v1/agents/\(agent)/shift", token: op, json: #"{"action":"start"}"#)
        #expect(started.status == 200, "\(started)")
    }

    @Test func theDispatcherMovesToAnotherHubWithinTwiceTheLeaseWhenItsHubIsKilled() async throws {
        try await PostgresServer.with { server in
            let database = server.url(database: try await server.createDatabase()) + "?sslmode=disable"
            var logger = Logger(label: "failover")
            logger.logLevel = .critical
            let store = try await PostgresHubStore.open(try PostgresStoreConfiguration(url: database), logger: logger)
            let directory = try TestDirectory("hub-failover")
            defer {
                store.close()
                directory.remove()
            }
            // Two agents online with a fresh fix by the restaurant, off shift until the test starts their shifts
            // (over REST: the hub answering runs a round at once, if it may); each can take one order.
            try await HubOnPostgreSQLEndToEndTests.seed(store)
            try await store.setShift(agent: "a-1", onShift: false)
            _ = try await store.createAgent(id: "a-2", name: "Sita Devi")
            let hash = try await offPool { Bcrypt.hash("password-1", cost: 4) }
            _ = try await store.createUser(
                email: "sita@example.com", passwordHash: hash, name: "Sita", role: .agent, agentID: "a-2")
            let now = wallClockMilliseconds()
            for (seq, agent) in ["a-1", "a-2"].enumerated() {
                try await store.updateState(AgentState(agent: agent, online: true), at: now)
                _ = try await store.store(
                    positions: [StoredPosition(agent: agent, seq: Int64(seq + 1), time: now, lat: 12.975, lon: 77.605)],
                    events: [])
            }
            let broker = try await MosquittoBroker.started(directory: directory)
            defer { broker.stop() }
            let cluster = try await HubCluster.start(
                count: 3, database: database, mqttPort: broker.port, directory: directory,
                extra: [
                    "--dispatch-lease", "\(Double(Self.lease) / 1000)", "--dispatch-interval", "0.5", "--offer-timeout",
                    "600", "--dispatch-fix-max-age", "600", "--dispatch-policy", "nearest",
                ])
            defer { cluster.stop() }
            let (hubs, ports) = (cluster.hubs, cluster.ports)
            @Sendable func diagnostics() -> String { cluster.diagnostics() }

            // One hub holds the lease, the other two do not.
            @Sendable func holders(_ candidates: [Int]) async throws -> (holding: [Int], not: [Int]) {
                let held = try await candidates.asyncMap {
                    metricValue(try await cluster.metrics($0), "dabba_dispatch_lease_held")
                }
                return (
                    zip(candidates, held).filter { $0.1 == 1 }.map(\.0),
                    zip(candidates, held).filter { $0.1 == 0 }.map(\.0)
                )
            }
            var holder: Int?
            let settled = try await eventually {
                let (holding, not) = try await holders([0, 1, 2])
                holder = holding.first
                return holding.count == 1 && not.count == 2
            }
            #expect(settled, "\(diagnostics())")
            let dead = try #require(holder)
            let survivors = [0, 1, 2].filter { $0 != dead }
            let survivor = survivors[0]
            let before = try #require(try await store.leaseHolder(DispatchLease.name))

            // An order accepted on the other hub, then a-1's shift started there: that hub's own round (which the
            // shift change runs before answering) must not offer it; the holder's next round does.
            let clients = ports.map { HubOnPostgreSQLEndToEndTests.Client(port: $0) }
            let first = try await Self.confirmedOrder(clients[survivor])
            try await Self.startShift("a-1", clients[survivor])
            #expect(await eventually { (try? await store.offers(order: first).count) == 1 }, "\(diagnostics())")
            // Made by the holder: the other hubs ran no round.
            let offered = #"dabba_dispatch_decisions_total{outcome="offered"}"#
            #expect(metricValue(try await cluster.metrics(dead), offered) == 1)
            for other in survivors { #expect(metricValue(try await cluster.metrics(other), offered) == nil) }

            // SIGKILL the holder: no release; one of the survivors takes the lease once it expires.
            let killed = wallClockMilliseconds()
            try await offPool { hubs[dead].kill9() }
            let taken = await eventually {
                guard let now = try? await store.leaseHolder(DispatchLease.name) else { return false }
                return now.holder != before.holder
            }
            let after = try #require(try await store.leaseHolder(DispatchLease.name), "\(diagnostics())")
            #expect(taken)
            // Taken at (its expiry − the lease) or, when this poll saw a renewal, earlier: the delay is at most this.
            let takeover = after.until - Self.lease - killed
            #expect(takeover <= 2 * Self.lease, "takeover after \(takeover) ms")
            var newHolder: Int?
            let shown = await eventually {
                guard let (holding, not) = try? await holders(survivors) else { return false }
                newHolder = holding.first
                return holding.count == 1 && not.count == 1
            }
            #expect(shown, "\(diagnostics())")
            let next = try #require(newHolder)
            let bystander = try #require(survivors.first { $0 != next })

            // An order accepted now is offered by the new holder; the first keeps its one offer (not offered again),
            // and the agent accepts it on the survivor.
            try await Self.startShift("a-2", clients[survivor])
            let second = try await Self.confirmedOrder(clients[survivor])
            #expect(await eventually { (try? await store.offers(order: second).count) == 1 }, "\(diagnostics())")
            #expect(metricValue(try await cluster.metrics(next), offered) == 1)
            #expect(metricValue(try await cluster.metrics(bystander), offered) == nil)
            let offers = try await store.offers(order: first) + store.offers(order: second)
            #expect(offers.count == 2 && Set(offers.map(\.agent)).count == 2, "\(offers)")
            let firstAgent = try #require(offers.first?.agent)
            let token = try await clients[survivor].login(firstAgent == "a-1" ? "ravi@example.com" : "sita@example.com")
            let accepted = try await clients[survivor].send(
                "POST", "/v1/orders/\(first)/offer", token: token, json: #"{"decision":"accept"}"#)
            #expect(accepted.status == 200 && accepted.json["status"] as? String == "assigned", "\(accepted)")
            #expect(try await store.decisions(order: first).filter { $0.outcome == "offered" }.count == 1)
            #expect(try await store.decisions(order: second).filter { $0.outcome == "offered" }.count == 1)
        }
    }
}
