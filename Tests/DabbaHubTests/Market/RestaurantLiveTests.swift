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

/// `GET /v1/restaurants/{id}/live`: the restaurant console's wake-up feed. (Who may open it: the access matrix.)
@Suite struct RestaurantLiveTests {
    /// The owner hears of each of its orders' events in order (placed, then confirmed) and nothing of another
    /// restaurant's order placed before them.
    @Test func theOwnerHearsOfItsOrdersAsTheyHappenAndNothingOfOthers() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        _ = try await h.store.createSection(restaurant: "r-other", id: "s-other", name: "Mains", position: 0)
        _ = try await h.store.createMenuItem(
            MenuItem(
                id: "i-other", restaurantID: "r-other", sectionID: "s-other", name: "Idli", price: 8_000,
                currency: "INR"))
        try await h.run(.live) { client, hub in
            let (customer, _) = try await client.login(f.customerA.email)
            let (owner, _) = try await client.login(f.owner.email)
            let ticket = try hub.auth.issueTicket(for: Identity(userID: f.owner.id, role: .restaurant))
            let frames = FrameLog()
            let ids = Mutex<[String]>([])
            try await client.ws("/v1/restaurants/r-dosa/live?ticket=\(ticket)") { inbound, outbound, _ in
                var messages = try await frames.read(
                    inbound, closing: outbound, until: #""type":"snapshot""#, timeout: TestDeadline.generous)
                let other = try await client.placeOrder(
                    customer, json: OrderFixture.orderJSON(restaurant: "r-other", item: "i-other", options: []))
                let own = try await client.placeOrder(customer)
                #expect(try await client.act("accept", own, owner, #"{"prepMinutes":10}"#).status == .ok)
                ids.withLock { $0 = [other, own] }
                let watchdog = Task {
                    guard (try? await Task.sleep(for: TestDeadline.generous)) != nil else { return }
                    try? await outbound.close(.goingAway, reason: "test timeout")
                }
                defer { watchdog.cancel() }
                while frames.count < 3, let message = try await messages.next() {
                    if case .text(let text) = message { frames.append(text) }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
            let parsed = frames.withLock { $0 }.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
            let own = ids.withLock { $0.last }
            #expect(parsed.count == 3, "\(parsed)")
            #expect(
                parsed.first?["type"] as? String == "snapshot" && parsed.first?["restaurant"] as? String == "r-dosa")
            #expect(parsed.dropFirst().map { $0["order"] as? String } == [own, own], "\(parsed)")
            #expect(parsed.dropFirst().map { $0["status"] as? String } == ["placed", "confirmed"], "\(parsed)")
            #expect(parsed.last?["previous"] as? String == "placed" && parsed.last?["time"] as? String != nil)
        }
    }
}
