import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Synchronization
import Testing

@testable import DabbaHub

/// The customer's live feed over a real socket, with real mosquitto feeding the agent's fixes through ingest.
@Suite(.serialized) struct OrderLiveTests {
    /// Fixes of agent a-1 from `from` to `to` in `steps` steps, seqs from `seq`.
    static func path(from: GeoPoint, to: GeoPoint, steps: Int, seq: Int64) -> [Fix] {
        (0..<steps).map { i in
            let t = Double(i + 1) / Double(steps)
            let s = seq + Int64(i)
            return Fix(
                agent: "a-1", seq: s, time: Timestamp.format(milliseconds: wallClockMilliseconds() - 60_000 + s * 100),
                lat: from.lat + (to.lat - from.lat) * t, lon: from.lon + (to.lon - from.lon) * t, speed: 6, mode: 3)
        }
    }

    @Test func theCustomerSeesEveryStatusAndPositionInOrderWithAShrinkingETA() async throws {
        let directory = try TestDirectory("order-live")
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let h = try HubHarness(["mqtt-port": "\(broker.port)", "commit-interval-ms": "10"], directory: directory)
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        let hub = try await HubComponents.make(
            configuration: h.configuration, store: h.store, logger: h.logger, bcryptCost: 4)
        let app = buildApplication(hub: hub, logger: h.logger)
        let publisher = try await TestSubscriber.start(port: broker.port, filter: "unused/#")
        defer { publisher.client.shutdown() }
        @Sendable func publish(_ fixes: [Fix]) async throws {
            for fix in fixes {
                try await publisher.client.publishAndWait(
                    MQTTMessage(topic: Topics.fix(agent: "a-1"), payload: fix.jsonBytes(), qos: .atLeastOnce))
            }
        }

        try await app.test(.live) { client in
            #expect(await eventually { hub.mqtt.isSubscribed })
            let (customer, _) = try await client.login(f.customerA.email)
            let (owner, _) = try await client.login(f.owner.email)
            let (op, _) = try await client.login(f.operatorUser.email)
            let (agent, _) = try await client.login(f.agentUser.email)
            let (other, _) = try await client.login(f.customerB.email)
            let id = try await client.placeOrder(customer)
            // Where the agent is before assignment: published, but never shown.
            try await publish(
                Self.path(from: .init(lat: 12.95, lon: 77.58), to: .init(lat: 12.955, lon: 77.585), steps: 2, seq: 1))

            // Customer B cannot subscribe to A's order.
            let foreign = try hub.auth.issueTicket(for: Identity(userID: f.customerB.id, role: .customer))
            await #expect(throws: (any Error).self) {
                try await client.ws("/v1/orders/\(id)/live?ticket=\(foreign)") { _, _, _ in }
            }
            _ = other

            let frames = FrameLog()
            @Sendable func parsed() -> [[String: Any]] {
                frames.withLock { $0 }.compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                }
            }
            let ticket = try hub.auth.issueTicket(for: Identity(userID: f.customerA.id, role: .customer))
            let restaurantLocation = f.restaurant.location
            try await client.ws("/v1/orders/\(id)/live?ticket=\(ticket)") { inbound, outbound, _ in
                @Sendable func framesSoFar() -> Int { frames.withLock { $0.count } }
                // The customer's side reads; a driver task plays restaurant, operator and agent meanwhile.
                let driver = Task {
                    #expect(await eventually { framesSoFar() >= 1 })
                    _ = try await client.act("accept", id, owner, #"{"prepMinutes":12}"#)
                    _ = try await client.act("ready", id, owner)
                    try await publish(
                        Self.path(
                            from: .init(lat: 12.955, lon: 77.585), to: .init(lat: 12.96, lon: 77.59), steps: 2, seq: 3))
                    #expect(await eventually { framesSoFar() >= 3 })
                    try await DispatchTests.onShiftAndOnline(h.store, "a-1")  // operators assign only to such agents
                    _ = try await client.act("assign", id, op, #"{"agent":"a-1"}"#)
                    // The rider's last known position (published before the assignment) shows at once, without
                    // waiting for their next fix.
                    #expect(await eventually { parsed().contains { $0["type"] as? String == "position" } })
                    // Toward the restaurant (12.975, 77.605), then to the customer (12.98, 77.60).
                    // At the agent's pace: each fix shows before the next is sent (a burst would be coalesced).
                    @Sendable func positions() -> Int { parsed().filter { $0["type"] as? String == "position" }.count }
                    for fix in Self.path(from: .init(lat: 12.96, lon: 77.59), to: restaurantLocation, steps: 5, seq: 10)
                    {
                        let before = positions()
                        try await publish([fix])
                        #expect(await eventually { positions() > before })
                    }
                    _ = try await client.act("pickup", id, agent)
                    for fix in Self.path(from: restaurantLocation, to: OrderFixture.home, steps: 5, seq: 20) {
                        let before = positions()
                        try await publish([fix])
                        #expect(await eventually { positions() > before }, "\(frames.withLock { $0 })")
                    }
                    _ = try await client.act("deliver", id, agent)
                }
                // The watchdog bounds the whole scenario (some 20 steps, each waited for), not one event.
                var iterator = try await frames.read(
                    inbound, closing: outbound, until: #""status":"delivered""#, timeout: TestDeadline.generous * 4)
                try await driver.value
                // After delivery: fixes go on, the feed shows none of them. Ingest must have committed them and
                // handed them to the fleet feed (which calls this order's feed with its agent's fixes) before the check.
                try await publish(
                    Self.path(from: OrderFixture.home, to: .init(lat: 12.99, lon: 77.61), steps: 2, seq: 30))
                #expect(
                    await eventually { hub.feed.snapshot().positions.contains { $0.agent == "a-1" && $0.seq == 31 } })
                // No sentinel can follow: after delivery this order's feed sends nothing at all. So a short pause
                // covers the hop from the fleet feed to the socket (a frame sent there would still fail the test
                // when it shows up within the pause; one delayed longer by load would be missed, never invented).
                let closer = Task {
                    try? await Task.sleep(for: .milliseconds(500))
                    try? await outbound.close(.normalClosure, reason: nil)
                }
                defer { closer.cancel() }
                while let message = try await iterator.next() {
                    if case .text(let text) = message { frames.withLock { $0.append(text) } }
                }
            }

            let received = parsed()
            #expect(
                received.first?["type"] as? String == "snapshot" && received.first?["status"] as? String == "placed")
            #expect(received.first?["agent"] == nil && received.first?["position"] == nil)
            let statuses = received.filter { $0["type"] as? String == "status" }.compactMap { $0["status"] as? String }
            #expect(statuses == ["confirmed", "ready_for_pickup", "assigned", "picked_up", "delivered"], "\(statuses)")
            // Positions only between assigned and delivered, each with an ETA; seqs in order.
            let types = received.map { "\($0["type"] ?? "")/\($0["status"] ?? "")" }
            let firstAssigned = try #require(types.firstIndex(of: "status/assigned"))
            let delivered = try #require(types.firstIndex(of: "status/delivered"))
            let positions = received.enumerated().filter { $0.element["type"] as? String == "position" }
            #expect(positions.allSatisfy { $0.offset > firstAssigned && $0.offset < delivered }, "\(types)")
            func eta(_ frame: [String: Any]) -> (target: String, meters: Int)? {
                guard let eta = frame["eta"] as? [String: Any], let target = eta["target"] as? String,
                    let meters = eta["distanceMeters"] as? Int
                else { return nil }
                return (target, meters)
            }
            let toRestaurant = positions.compactMap { eta($0.element) }.filter { $0.target == "restaurant" }.map(
                \.meters)
            let toCustomer = positions.compactMap { eta($0.element) }.filter { $0.target == "customer" }.map(\.meters)
            #expect(toRestaurant.count >= 3 && toRestaurant == toRestaurant.sorted(by: >), "\(toRestaurant)")
            #expect(toCustomer.count >= 3 && toCustomer == toCustomer.sorted(by: >), "\(toCustomer)")
            #expect(toCustomer.last ?? 1 < 100)  // arrived near the door
            let assigned = received[firstAssigned]
            #expect((assigned["agent"] as? [String: Any])?["firstName"] as? String == "Ravi")
            #expect((assigned["agent"] as? [String: Any])?["vehicle"] as? String == "scooter KA-01-1234")
            #expect(received[delivered]["position"] == nil && received[delivered]["agent"] == nil)
            #expect(received.last?["type"] as? String == "status")  // nothing after delivery
        }
    }

    /// A live hub on `h` with the order fixture, customer A signed in and one order of theirs placed: `body` gets
    /// the client, the hub, the fixture, customer A's access token and the order's id.
    static func withPlacedOrder(
        _ h: HubHarness,
        _ body: @Sendable (any TestClientProtocol, HubComponents, OrderFixture, String, String) async throws -> Void
    ) async throws {
        let f = try await OrderFixture.make(h)
        let hub = try await HubComponents.make(
            configuration: h.configuration, store: h.store, logger: h.logger, bcryptCost: 4)
        let app = buildApplication(hub: hub, logger: h.logger)
        try await app.test(.live) { client in
            let (customer, _) = try await client.login(f.customerA.email)
            let id = try await client.placeOrder(customer)
            try await body(client, hub, f, customer, id)
        }
    }

    /// The feed reads nothing from its client; the hub's event loop answers it (``WebSocketPushOnly``): a ping gets
    /// its pong, a text frame nothing, a close the same status code, and then the hub closes the connection. A raw
    /// socket client on a thread of its own sends them once the snapshot arrived.
    @Test func theFeedAnswersTheClientsPingAndCloseAndIgnoresItsText() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await Self.withPlacedOrder(h) { client, hub, _, customer, id in
            let share = try await client.send(.post, "/v1/orders/\(id)/share", token: customer, json: "{}")
            let token = try #require(share.json?["token"] as? String, "\(share.text)")
            let raw = try RawWebSocket(port: try #require(client.port), path: "/v1/track/\(token)/live")
            let outcome = await raw.run(
                answerPings: false, for: TestDeadline.generous,
                afterFirstText: [(0x9, [7, 7, 7]), (0x1, Array("ignored".utf8)), (0x8, [0x03, 0xE8])])
            #expect(outcome.upgraded, "\(outcome.head)")
            #expect(outcome.texts == 1, "the snapshot only")
            #expect(outcome.pongs == [[7, 7, 7]], "the ping's payload in the pong")
            #expect(outcome.closeCode == 1000, "the client's close echoed")
            #expect(outcome.closedByHub)
            #expect(await eventually { hub.metrics.render().contains(#"dabba_ws_connections{feed="order"} 0"#) })
        }
    }

    @Test func shareLinksWorkWithoutLoginUntilRevokedOrExpired() async throws {
        let directory = try TestDirectory("order-share")
        let h = try HubHarness(["share-grace-minutes": "0"], directory: directory)
        defer { h.close() }
        try await Self.withPlacedOrder(h) { client, hub, f, customer, id in
            let (b, _) = try await client.login(f.customerB.email)
            let share = try await client.send(
                .post, "/v1/orders/\(id)/share", token: customer, json: #"{"ttlMinutes":30}"#)
            #expect(share.status == .created, "\(share.text)")
            let token = try #require(share.json?["token"] as? String)
            #expect(share.json?["live"] as? String == "/v1/track/\(token)/live")
            #expect(try await client.send(.post, "/v1/orders/\(id)/share", token: b).status == .notFound)

            let snapshot = Mutex<String?>(nil)
            try await client.ws("/v1/track/\(token)/live") { inbound, outbound, _ in
                var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                if case .text(let text) = try await iterator.next() { snapshot.withLock { $0 = text } }
                try await outbound.close(.normalClosure, reason: nil)
            }
            #expect(snapshot.withLock { $0 }?.contains(#""status":"placed""#) == true)
            await #expect(throws: (any Error).self) { try await client.ws("/v1/track/not-a-token/live") { _, _, _ in } }

            // A feed that is open when its link is revoked ends at the next re-check (every 5 s): the hub closes it
            // with 1008 (policy violation) and the reason. The watchdog (a different close code) only trips when
            // no re-check came within a period plus the generous deadline.
            let frames = FrameLog()
            async let revokedFeed = client.ws("/v1/track/\(token)/live") { inbound, outbound, _ in
                let watchdog = Task {
                    guard (try? await Task.sleep(for: .seconds(5) + TestDeadline.generous)) != nil else { return }
                    try? await outbound.close(.goingAway, reason: "test timeout")
                }
                defer { watchdog.cancel() }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    if case .text(let text) = message { frames.append(text) }
                }
            }
            #expect(await eventually { frames.count == 1 }, "the snapshot")
            #expect(try await client.send(.delete, "/v1/orders/\(id)/share", token: customer).status == .noContent)
            let closed = try await revokedFeed
            #expect(closed?.closeCode == .policyViolation)
            #expect(closed?.reason == "this tracking link expired or was revoked")
            #expect(frames.count == 1)

            await #expect(throws: (any Error).self) { try await client.ws("/v1/track/\(token)/live") { _, _, _ in } }

            // An expired link: stored with a past expiry.
            let expired = "expired-token-0123456789"
            try await h.store.createShare(
                tokenHash: AuthRandom.sha256Hex(expired),
                share: OrderShare(orderID: id, createdBy: f.customerA.id, expires: wallClockMilliseconds() - 1))
            await #expect(throws: (any Error).self) { try await client.ws("/v1/track/\(expired)/live") { _, _, _ in } }
        }
    }
}

/// Frames a test client received, shared between its reader and the task that drives the scenario.
final class FrameLog: Sendable {
    private let texts = Mutex<[String]>([])
    func append(_ text: String) { texts.withLock { $0.append(text) } }
    var count: Int { texts.withLock { $0.count } }
    func withLock<T>(_ body: (inout [String]) -> T) -> T { texts.withLock { body(&$0) } }

    /// Logs `inbound`'s text frames until one contains `marker`; a watchdog closes the socket after `timeout` so a
    /// scenario that stalls fails instead of hanging. Returns the iterator, to read on after the marker.
    func read(
        _ inbound: WebSocketInboundStream, closing outbound: WebSocketOutboundWriter, until marker: String,
        timeout: Duration
    ) async throws -> WebSocketInboundMessageStream.AsyncIterator {
        let watchdog = Task {
            // Cancelled when the marker came: then it must not close the socket.
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            try? await outbound.close(.goingAway, reason: "test timeout")
        }
        defer { watchdog.cancel() }
        var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        while let message = try await iterator.next() {
            guard case .text(let text) = message else { continue }
            append(text)
            if text.contains(marker) { break }
        }
        return iterator
    }
}
