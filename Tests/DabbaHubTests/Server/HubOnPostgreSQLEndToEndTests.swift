import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubModel
import HubPostgres
import HummingbirdBcrypt
import Logging
import Testing

/// The real `dabba-hub serve` on PostgreSQL (`--database postgres://…`, a server the test starts), with a real
/// mosquitto: it ingests a device's fixes and serves them, and an order is placed, paid by card, delivered, captured
/// by the payment reactor and its trail read back — all over HTTP and MQTT, as clients see it.
@Suite(.serialized) struct HubOnPostgreSQLEndToEndTests {
    /// One HTTP exchange with the hub process (curl: a separate client, as a browser or an app would be).
    struct Client {
        let port: Int

        func send(
            _ method: String, _ path: String, token: String? = nil, json: String? = nil, key: String? = nil
        ) async throws -> (status: Int, json: JSONObject) {
            var arguments = ["-s", "-X", method, "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"]
            if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
            if let key { arguments += ["-H", "Idempotency-Key: \(key)"] }
            if let json { arguments += ["-H", "Content-Type: application/json", "--data-binary", json] }
            let (status, output) = try await runToCompletion("/usr/bin/curl", arguments)
            guard status == 0, let newline = output.lastIndex(of: "\n"), let code = Int(output[newline...].dropFirst())
            else { throw TestSupportError("curl \(method) \(path): exit \(status): \(output)") }
            let body = (try? JSONSerialization.jsonObject(with: Data(output[..<newline].utf8))) as? JSONObject
            return (code, body ?? [:])
        }

        /// Places an order of `quantity` masala dosas at r-dosa as `token`, paid by `method`; its answer.
        func placeOrder(_ token: String, quantity: Int, method: String) async throws -> (status: Int, json: JSONObject)
        {
            try await send(
                "POST", "/v1/orders", token: token,
                json: """
                    {"restaurant":"r-dosa","items":[{"item":"i-masala","quantity":\(quantity),"options":[]}],
                     "address":"1 MG Road","lat":12.98,"lon":77.60,"paymentMethod":"\(method)"}
                    """)
        }

        func login(_ email: String) async throws -> String {
            let response = try await send(
                "POST", "/v1/auth/login", json: #"{"email":"\#(email)","password":"password-1"}"#)
            guard response.status == 200, let token = response.json["accessToken"] as? String else {
                throw TestSupportError("login \(email): \(response)")
            }
            return token
        }
    }

    /// OrderFixture's marketplace (a zone, `r-dosa` with `i-masala`) and one user per role, written through the
    /// PostgreSQL store before the hub starts; agent `a-1` on shift.
    static func seed(_ store: PostgresHubStore) async throws {
        _ = try await store.createAgent(id: "a-1", name: "Ravi Kumar")
        try await store.setShift(agent: "a-1", onShift: true)
        _ = try await store.createZone(
            Zone(
                id: "z-central", name: "Central",
                polygon: [
                    .init(lat: 12.90, lon: 77.50), .init(lat: 12.90, lon: 77.70), .init(lat: 13.05, lon: 77.70),
                    .init(lat: 13.05, lon: 77.50),
                ],
                deliveryFee: 4_000, currency: "INR"))
        let hash = try await offPool { Bcrypt.hash("password-1", cost: 4) }
        func user(_ email: String, _ role: Role, agent: String? = nil) async throws -> UserRecord {
            try await store.createUser(email: email, passwordHash: hash, name: "Test", role: role, agentID: agent)
        }
        let owner = try await user("owner@example.com", .restaurant)
        _ = try await user("a@example.com", .customer)
        _ = try await user("op@example.com", .operator)
        _ = try await user("ravi@example.com", .agent, agent: "a-1")
        _ = try await store.createRestaurant(
            Restaurant(
                id: "r-dosa", name: "Dosa Corner", address: "2 Church Street",
                location: .init(lat: 12.9750, lon: 77.6050), ownerUserID: owner.id, currency: "INR", hours: .always))
        try await store.createSection(restaurant: "r-dosa", id: "s-main", name: "Mains", position: 0)
        _ = try await store.createMenuItem(
            MenuItem(
                id: "i-masala", restaurantID: "r-dosa", sectionID: "s-main", name: "Masala dosa", price: 25_000,
                currency: "INR"))
    }

    @Test func aHubOnPostgreSQLIngestsAndServesFixesAndAnOrderIsPaidDeliveredAndCaptured() async throws {
        try await PostgresServer.with { server in
            let database = server.url(database: try await server.createDatabase()) + "?sslmode=disable"
            var logger = Logger(label: "hub-pg-e2e")
            logger.logLevel = .critical
            let store = try await PostgresHubStore.open(try PostgresStoreConfiguration(url: database), logger: logger)
            do {
                try await Self.seed(store)
            } catch {
                await store.shutdown()
                throw error
            }
            let directory = try TestDirectory("hub-pg-e2e")
            let broker = try await MosquittoBroker.started(directory: directory)
            let device = try await TestSubscriber.start(port: broker.port, filter: Topics.ack(agent: "a-1"))
            let httpPort = FreePort.next()
            let hub = try ManagedProcess(
                name: "hub", executable: try BuiltProducts.path(of: "dabba-hub"),
                arguments: [
                    "serve", "--config", "/dev/null", "--database", database, "--mqtt-port", "\(broker.port)",
                    "--http-port", "\(httpPort)", "--commit-interval-ms", "20", "--log-level", "info",
                    "--payment-provider", "test", "--dispatch-policy", "nearest",
                ], logDirectory: directory.url)
            defer {
                hub.stop()
                device.client.shutdown()
                broker.stop()
                store.close()
                directory.remove()
            }
            try await FreePort.waitUntilListening(httpPort)
            let client = Client(port: httpPort)
            try await Self.ingestAndServe(client, device, hub)
            try await Self.placePayDeliverAndCapture(client, store, hub)
        }
    }

    /// The device publishes ten fixes and comes online; every seq is acked, stored once in PostgreSQL and served by
    /// `GET /v1/agents/a-1/positions` in order.
    static func ingestAndServe(_ client: Client, _ device: TestSubscriber, _ hub: ManagedProcess) async throws {
        let start = wallClockMilliseconds() - 60_000
        // Sent again until acked, as the agent does: the hub may not have subscribed yet when the first go out.
        let acked = await IngestHarness.publishUntilAcked(1...10, by: device, agent: "a-1") { seq in
            let fix = Fix(
                agent: "a-1", seq: seq, time: Timestamp.format(milliseconds: start + seq * 1000),
                lat: 12.975 + Double(seq) * 1e-4, lon: 77.605, mode: 3)
            return MQTTMessage(topic: Topics.fix(agent: "a-1"), payload: PayloadCoding.encode(fix), qos: .atLeastOnce)
        }
        try await device.client.publishAndWait(
            MQTTMessage(
                topic: Topics.state(agent: "a-1"),
                payload: PayloadCoding.encode(AgentState(agent: "a-1", online: true)),
                qos: .atLeastOnce, retain: true))
        #expect(acked, "every fix acked; hub:\n\(hub.output().suffix(2000))")
        let op = try await client.login("op@example.com")
        let positions = try await client.send("GET", "/v1/agents/a-1/positions?limit=100", token: op)
        let served = (positions.json["positions"] as? [JSONObject])?.compactMap { ($0["seq"] as? NSNumber)?.int64Value }
        #expect(positions.status == 200 && served == Array(1...10), "\(positions)")
    }

    /// A card order: placed and paid (authorized by the test provider), accepted, assigned to `a-1`, picked up and
    /// delivered over REST; the payment reactor captures it; the trail reads back every step.
    static func placePayDeliverAndCapture(_ client: Client, _ store: PostgresHubStore, _ hub: ManagedProcess)
        async throws
    {
        let customer = try await client.login("a@example.com")
        let placed = try await client.placeOrder(customer, quantity: 2, method: "card")
        let order = try #require(placed.json["id"] as? String, "\(placed)")
        #expect(placed.status == 201 && (placed.json["total"] as? NSNumber)?.int64Value ?? 0 > 50_000)
        let paid = try await client.send(
            "POST", "/v1/orders/\(order)/payments", token: customer, json: #"{"card":"4242424242424242"}"#,
            key: "pay-1")
        #expect(paid.status == 201 && paid.json["state"] as? String == "authorized", "\(paid)")
        let owner = try await client.login("owner@example.com")
        let accepted = try await client.send(
            "POST", "/v1/orders/\(order)/accept", token: owner, json: #"{"prepMinutes":10}"#)
        #expect(accepted.status == 200, "\(accepted)")
        // The dispatcher may have offered it to a-1 meanwhile; the operator's assignment withdraws such an offer.
        let op = try await client.login("op@example.com")
        let assigned = try await client.send(
            "POST", "/v1/orders/\(order)/assign", token: op, json: #"{"agent":"a-1"}"#)
        let agentNow = try await store.orders(OrderFilter(agentID: "a-1"), after: nil, limit: 10).first?.agentID
        #expect(assigned.status == 200 || agentNow == "a-1", "\(assigned)\nhub:\n\(hub.output().suffix(2000))")
        let ravi = try await client.login("ravi@example.com")
        #expect(try await client.send("POST", "/v1/orders/\(order)/pickup", token: ravi).status == 200)
        let delivered = try await client.send("POST", "/v1/orders/\(order)/deliver", token: ravi)
        #expect(delivered.status == 200 && delivered.json["status"] as? String == "delivered", "\(delivered)")
        // The payment reactor (a service of the hub) captures the authorized payment once the delivery is on the
        // trail.
        let captured = await eventually(timeout: TestDeadline.generous) {
            (try? await store.payments(order: order).first?.state) == .captured
        }
        #expect(captured, "hub:\n\(hub.output().suffix(2000))")
        let payment = try await client.send("GET", "/v1/orders/\(order)/payments", token: customer)
        #expect(payment.status == 200, "\(payment)")
        let events = try await client.send("GET", "/v1/orders/\(order)/events", token: customer)
        let statuses = (events.json["events"] as? [JSONObject])?.compactMap { $0["status"] as? String }
        #expect(
            statuses?.first == "placed" && statuses?.last == "delivered"
                && statuses?.contains("confirmed") == true && statuses?.contains("picked_up") == true,
            "\(events)")
    }
}
