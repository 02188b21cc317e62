import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
import HubPostgres
import HummingbirdWSClient
import Logging
import Testing

/// Issue 16's "a customer connected to hub A sees positions ingested by hub B", on real processes: three
/// `dabba-hub serve` in one ingest group on one PostgreSQL and one mosquitto. A customer follows their order on hub
/// 0's `/v1/orders/{id}/live` over a real WebSocket; the broker shares the agent's fixes out between the three hubs,
/// and every fix reaches the customer once and in order, the other hubs' through the cluster relay.
@Suite(.serialized) struct ClusterCustomerFeedTests {
    static let fixes: Int64 = 30

    /// Customer `a@example.com`'s cash order at r-dosa, accepted and assigned to `a-1` (written through the store,
    /// as the REST routes would, before the hubs start: no dispatch round can race the assignment).
    static func assignedOrder(_ store: PostgresHubStore) async throws -> String {
        let customer = try #require(try await store.user(email: "a@example.com"))
        let now = wallClockMilliseconds()
        let line = OrderLine(itemID: "i-masala", name: "Masala dosa", quantity: 1, unitPrice: 25_000, options: [])
        let order = OrderRecord(
            id: "o-cluster-feed", customerID: customer.id, restaurantID: "r-dosa", paymentMethod: .cod,
            currency: "INR", subtotal: 25_000, deliveryFee: 4_000, tax: 1_250, total: 30_250, address: "1 MG Road",
            dropLat: 12.98, dropLon: 77.60, zoneID: "z-central", createdAt: now, updatedAt: now, lines: [line])
        _ = try await store.createOrder(order, idempotencyKey: nil, requestHash: nil, actor: "customer:\(customer.id)")
        _ = try await store.applyOrderChange(
            OrderChange(action: .accept, actor: "restaurant:test", prepMinutes: 10), to: order.id)
        _ = try await store.applyOrderChange(OrderChange(action: .assign, actor: "system", agent: "a-1"), to: order.id)
        return order.id
    }

    @Test func aCustomerOnHubASeesThePositionsHubsBAndCIngested() async throws {
        try await PostgresServer.with { server in
            let database = server.url(database: try await server.createDatabase()) + "?sslmode=disable"
            var logger = Logger(label: "cluster-customer-feed")
            logger.logLevel = .critical
            let store = try await PostgresHubStore.open(try PostgresStoreConfiguration(url: database), logger: logger)
            let order: String
            do {
                try await HubOnPostgreSQLEndToEndTests.seed(store)
                order = try await Self.assignedOrder(store)
            } catch {
                await store.shutdown()
                throw error
            }
            let directory = try TestDirectory("cluster-customer-feed")
            let broker = try await MosquittoBroker.started(directory: directory)
            let cluster = try await HubCluster.start(
                count: 3, database: database, mqttPort: broker.port, directory: directory)
            let publisher = try await TestSubscriber.start(port: broker.port, filter: "unused/#")
            defer {
                publisher.client.shutdown()
                cluster.stop()
                broker.stop()
                store.close()
                directory.remove()
            }
            // Every hub connected to the broker (it subscribes to its share at once) before the first fix.
            let connected = await eventually(timeout: TestDeadline.generous) {
                await cluster.brokerStates() == ["connected", "connected", "connected"]
            }
            #expect(connected, "\(cluster.diagnostics())")

            let token = try await HubOnPostgreSQLEndToEndTests.Client(port: cluster.ports[0]).login("a@example.com")
            var headers = HTTPFields()
            headers[.authorization] = "Bearer " + token
            let frames = FrameLog()
            let last = PacedFixes.fix(Self.fixes).time
            let url = "ws://127.0.0.1:\(cluster.ports[0])/v1/orders/\(order)/live"
            let feed = Task {
                try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers),
                    logger: logger
                ) { inbound, outbound, _ in
                    _ = try await frames.read(
                        inbound, closing: outbound, until: last, timeout: TestDeadline.generous * 2)
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            defer { feed.cancel() }
            #expect(await eventually { frames.count >= 1 }, "the customer's feed sent no snapshot")

            // The agent's pace: each fix published once, shown to the customer before the next (a burst would be
            // coalesced, on one hub as on three).
            for seq in Int64(1)...Self.fixes {
                try await publisher.client.publishAndWait(
                    MQTTMessage(
                        topic: Topics.fix(agent: "a-1"), payload: PacedFixes.fix(seq).jsonBytes(), qos: .atLeastOnce))
                let shown = await eventually(timeout: TestDeadline.generous) { PacedFixes.seqs(frames).contains(seq) }
                #expect(shown, "seq \(seq): the customer saw \(PacedFixes.seqs(frames))\n\(cluster.diagnostics())")
                if !shown { break }
            }
            _ = try await feed.value

            // The broker shared the fixes out: each stored once, and hubs 1 and 2 ingested some of them …
            @Sendable func committed() async -> [Double] {
                var values: [Double] = []
                for n in cluster.ports.indices {
                    let text = (try? await cluster.metrics(n)) ?? ""
                    values.append(metricValue(text, "dabba_ingest_committed_total") ?? 0)
                }
                return values
            }
            #expect(await eventually { await committed().reduce(0, +) == Double(Self.fixes) })
            let split = await committed()
            #expect(split[1] + split[2] > 0, "fixes committed by hubs 0, 1, 2: \(split)")
            let relayed = metricValue(try await cluster.metrics(0), "dabba_relay_received_total") ?? 0
            #expect(relayed >= split[1] + split[2], "hub 0 received \(relayed) relayed fixes; split \(split)")
            #expect(try await store.positionCount(agent: "a-1") == Int(Self.fixes))
            // … and the customer on hub 0 saw every fix once, in order: those hubs 1 and 2 ingested too.
            #expect(PacedFixes.seqs(frames) == Array(1...Self.fixes))
        }
    }
}
