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

/// The whole product with nothing stood in for: gpsfake replays a route around the restaurant through gpsd to the
/// real `dabba-agent`, which publishes to mosquitto; the hub dispatches to that device. In headless Chromium a
/// customer orders and pays by card, and the restaurant accepts, prepares and marks the order ready in its console;
/// the rider answers the offer, picks up and delivers with the device's CLI (`dabba-agent accept / pickup /
/// deliver`). The customer's page shows every status and the rider's moving position from the live feed, without a
/// reload.
@Suite(.serialized) struct DeviceDeliveryBrowserTests {
    typealias Page = WebAppBrowserTests.Page

    @Test(.enabled(if: WebDriver.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil))
    func aCustomerWatchesADeviceDeliverTheirOrderInHeadlessChromium() async throws {
        // Rounds run when an order is confirmed or a device event arrives; offers stay open for ten minutes.
        let rig = try await BrokeredHub.start(
            "web-device",
            [
                "dispatch-policy": "nearest", "dispatch-interval": "3600", "offer-timeout": "600",
                "payment-poll-interval": "0.05",
            ])
        defer { rig.stop() }
        let harness = rig.harness
        let fixture = try await OrderFixture.make(harness)
        // A rider circling the restaurant (400–900 m out) at 1 Hz, in real time (two sentences of 0.5 s per fix),
        // for longer than the test takes; the fixes carry the current time.
        let restaurant = fixture.restaurant.location
        let route = Route.loop(
            count: 600, start: wallClockMilliseconds() + 3000, centerLatitude: restaurant.lat,
            centerLongitude: restaurant.lon)
        let gps = try GpsFake(route: route, directory: rig.directory, cycle: 0.5, leadIn: 2)
        defer { gps.stop() }
        let agent = AgentProcess(
            agentID: "a-1", directory: rig.directory, mqttPort: rig.broker.port, gpsdPort: gps.port)
        defer { agent.stop() }
        let cli = ["--config", "/dev/null", "--control-socket", agent.controlSocket]
        @Sendable func device(_ arguments: [String]) async throws -> String {
            let (status, output) = try await AgentProcess.runCLI(arguments + cli)
            guard status == 0 else { throw TestSupportError("dabba-agent \(arguments): \(output)") }
            return output
        }
        let driver = try await WebDriver.start(directory: rig.directory)
        defer { driver.stop() }

        try await harness.run(.live) { client, hub in
            let port = try #require(client.port)
            let base = "http://127.0.0.1:\(port)"
            #expect(await eventually { hub.mqtt.isSubscribed })
            try await gps.start()
            try agent.start()
            // The device is online (its retained state) and its fixes, read from gpsd, reach the hub.
            let located = await eventually {
                let record = (try? await harness.store.agent(id: "a-1")) ?? nil
                return record?.state?.online == true && record?.last != nil
            }
            try #require(
                located, "no fix from the device: \(agent.output().suffix(3000))\n\(gps.output().suffix(2000))")
            #expect(try await device(["shift", "start"]).contains("a-1: shift_started"))

            let customer = try await Page(driver.newSession(directory: rig.directory, profile: "customer"), base: base)
            let kitchen = try await Page(driver.newSession(directory: rig.directory, profile: "kitchen"), base: base)
            do {
                // The customer signs in, puts a masala dosa in the cart and pays by card.
                try await customer.open("/app#/signin")
                try await customer.fill(["signin-email": fixture.customerA.email, "signin-password": "password-1"])
                try await customer.submit("signin")
                try await customer.expect("the restaurants", "return document.body.dataset.view === 'browse'")
                try await customer.run("location.hash = '#/restaurants/r-dosa'")
                try await customer.expect(
                    "the menu", "return document.querySelector('li[data-item=\"i-masala\"] form') !== null")
                try await customer.checkOutOneMasalaDosa(card: "4242 4242 4242 4242")
                try await customer.expect(
                    "the payment authorized and the live feed",
                    "return document.getElementById('payment-state').textContent.includes('Paid by card ending 4242') && document.getElementById('connection').dataset.state === 'live'"
                )
                let order = try #require(
                    try await customer.run("return decodeURIComponent(location.hash.split('/')[2])") as? String)
                try await customer.run("window.sameDocument = 'yes'")

                // The kitchen accepts (the hub offers the order to the device), prepares it and marks it ready.
                try await kitchen.open("/restaurant")
                try await kitchen.fill(["email": fixture.owner.email, "password": "password-1"])
                try await kitchen.submit("signin")
                let incoming = "#incoming li[data-order=\"\(order)\"]"
                try await kitchen.expect(
                    "the new order", "return document.querySelector(arguments[0]) !== null", [incoming])
                try await kitchen.run(
                    "const c = document.querySelector(arguments[0]); c.querySelector('input[type=number]').value = '15'; c.querySelector('form').requestSubmit();",
                    [incoming])
                try await customer.expectStatus("confirmed")
                try await kitchen.click("#active li[data-order=\"\(order)\"] button", text: "Start preparing")
                try await customer.expectStatus("preparing")
                try await kitchen.click("#active li[data-order=\"\(order)\"] button", text: "Ready for pickup")
                try await customer.expectStatus("ready_for_pickup")

                // The device has the offer; the rider accepts it there, and the customer sees the rider move.
                var offered = ""
                let hasOffer = await eventually {
                    offered = (try? await device(["tasks"])) ?? ""
                    return offered.contains("\(order)  offered")
                }
                try #require(hasOffer, "the device never listed the offer: \(offered)\n\(agent.output().suffix(3000))")
                _ = try await device(["accept", order])
                try await customer.expectStatus("assigned")
                try await Self.expectRiderMoves(customer)
                _ = try await device(["pickup", order])
                try await customer.expectStatus("picked_up")
                try await Self.expectRiderMoves(customer)
                _ = try await device(["deliver", order])
                try await customer.expectStatus("delivered")

                let steps = try await customer.run(
                    "return Array.from(document.querySelectorAll('#order-live [data-field=timeline] li')).map(li => li.dataset.status).join(',')"
                )
                #expect(
                    steps as? String == "placed,confirmed,preparing,ready_for_pickup,assigned,picked_up,delivered",
                    "\(String(describing: steps))")
                #expect(try await customer.run("return window.sameDocument") as? String == "yes", "the page reloaded")
                let actors = try await harness.store.orderEvents(order: order).suffix(3).map(\.actor)
                #expect(actors == ["agent:a-1", "agent:a-1", "agent:a-1"], "\(actors)")
                // The card payment is captured once the order is delivered (the payment reactor, moments later).
                #expect(
                    await eventually {
                        (try? await harness.store.payments(order: order))?.first?.state == .captured
                    })
            } catch {
                for page in [customer, kitchen] { try? await page.session.delete() }
                throw error
            }
            for page in [customer, kitchen] { try await page.session.delete() }
        }
    }

    /// Waits until the customer's map shows the rider, then at a different place (the device's next fixes).
    static func expectRiderMoves(_ page: Page) async throws {
        let first = try #require(
            try await page.expect(
                "the rider on the map", "return document.getElementById('order-live').dataset.riderAt") as? String)
        try await page.expect(
            "the rider moving from \(first)",
            "const at = document.getElementById('order-live').dataset.riderAt; return at && at !== arguments[0];",
            [first])
    }
}
