import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// The operator console (`/`) in headless Chromium against a live hub fed by a real mosquitto: the fleet with zones,
/// shift, outbox and cash; an order found by its status filter, its dispatch decision with the candidates' costs,
/// unassigned and assigned again from the page; the rider's trail; the alert; the day's cash reconciliation and a
/// hand-in recorded from the page; a webhook endpoint's delivery log; the health panel from the hub's own /metrics.
/// Screenshots at 360 px and 1280 px like the other screens (``WebAppBrowserTests/screenshots``).
@Suite(.serialized) struct OperatorConsoleBrowserTests {
    typealias Page = WebAppBrowserTests.Page

    /// Makes the console read the screen it shows now (as its own timer would, a few seconds later).
    static let refresh = "window.dispatchEvent(new HashChangeEvent('hashchange'))"

    @Test(.enabled(if: WebDriver.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil))
    func anOperatorFollowsAnOrderThroughDispatchAndMoneyInHeadlessChromium() async throws {
        let receiver = try await WebhookReceiver()
        defer { Task { await receiver.stop() } }
        let rig = try await BrokeredHub.start(
            "web-operator",
            WebhookTests.fast.merging([
                "dispatch-policy": "nearest", "dispatch-interval": "3600", "offer-timeout": "600",
            ]) { $1 })
        defer { rig.stop() }
        let harness = rig.harness
        let fixture = try await OrderFixture.make(harness)
        let driver = try await WebDriver.start(directory: rig.directory)
        defer { driver.stop() }

        try await harness.run(.live) { client, hub in
            let port = try #require(client.port)
            #expect(await eventually { hub.mqtt.isSubscribed })
            let (operatorToken, _) = try await client.login(fixture.operatorUser.email)
            let (riderToken, _) = try await client.login(fixture.agentUser.email)
            let registered = try await client.send(
                .post, "/v1/webhooks", token: operatorToken, json: #"{"url":"\#(receiver.url)"}"#)
            #expect(registered.status == .created, "\(registered.text)")
            let webhook = try #require(registered.json?["id"] as? String)
            try await DispatchTests.makeAvailable(harness.store, "a-1", lat: 12.9751, lon: 77.6051)
            let order = try await DispatchTests.confirmedOrder(client, fixture)
            #expect(
                try await harness.store.raiseAlert(
                    kind: "agent_offline_after_pickup", agent: "a-1", order: order,
                    message: "a-1 went offline with the order on board"))

            // A zone whose name holds markup: the map's tooltip shows it as text.
            let zone = try await client.send(
                .post, "/v1/zones", token: operatorToken,
                json:
                    #"{"name":"<b>North</b> & co","polygon":[[77.70,13.05],[77.75,13.05],[77.75,13.10],[77.70,13.10]],"deliveryFee":3000,"currency":"INR"}"#
            )
            #expect(zone.status == .created, "\(zone.text)")

            let ops = try await Page(
                driver.newSession(directory: rig.directory, profile: "operator"), base: "http://127.0.0.1:\(port)")
            do {
                // The fleet: live, the zone on the map, a-1 on shift with its cash against the limit.
                try await ops.open("/")
                try await ops.fill(["email": fixture.operatorUser.email, "password": "password-1"])
                try await ops.submit("signin")
                let agentRow = "#agents li[data-agent=\"a-1\"]"
                try await ops.expectText(
                    "the fleet, live, with a-1 on shift and the zone",
                    "const li = document.querySelector(arguments[0]); return document.getElementById('connection').dataset.state === 'live' && document.getElementById('map').dataset.zones === '2' && li && li.dataset.shift === 'on' && li.textContent;",
                    [agentRow],
                    contains: ["cash: none of ₹", "online"])
                let fix = Fix(
                    agent: "a-1", seq: 2, time: Timestamp.format(milliseconds: wallClockMilliseconds()),
                    lat: 12.97600, lon: 77.60400, mode: 3)
                _ = try rig.publisher.client.publish(
                    topic: Topics.fix(agent: "a-1"), payload: fix.jsonBytes(), qos: .atLeastOnce)
                let tooltips = try await ops.expect(
                    "the zones' tooltips, as text",
                    """
                    document.querySelectorAll('#map path.zone').forEach(p => p.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})));
                    const tips = Array.from(document.querySelectorAll('#map .leaflet-tooltip'));
                    return tips.some(t => t.textContent.includes('North')) && tips.map(t => t.textContent + '|' + t.querySelectorAll('b').length).join(';');
                    """)
                #expect(
                    (tooltips as? String)?.contains("<b>North</b> & co · fee ₹30.00|0") == true,
                    "\(String(describing: tooltips))")
                // Its device reports its state (as it does on connecting): online, four fixes waiting in the outbox.
                let state = AgentState(
                    agent: "a-1", online: true, time: Timestamp.format(milliseconds: wallClockMilliseconds()),
                    gps: "fix", mode: 3, outboxDepth: 4, oldestUnsentAge: 2.5)
                _ = try rig.publisher.client.publish(
                    topic: Topics.state(agent: "a-1"), payload: state.jsonBytes(), qos: .atLeastOnce, retain: true)
                #expect(
                    await eventually { (try? await harness.store.agent(id: "a-1"))??.state?.outboxDepth == 4 })
                try await ops.run(Self.refresh)
                try await ops.expect(
                    "a-1's outbox from its state message",
                    "const li = document.querySelector(arguments[0]); return li && li.textContent.includes('outbox: 4 (oldest 2.5 s)');",
                    [agentRow])
                try await ops.expect(
                    "a-1's new fix on the list",
                    "const li = document.querySelector(arguments[0]); return li && li.dataset.lat === '12.97600';",
                    [agentRow])
                try await ops.shoot("operator-fleet")

                // Orders: the status filter finds it; the detail shows the dispatch decision with the costs.
                try await ops.run("location.hash = '#/orders'")
                try await ops.run(
                    "document.getElementById('filter-status').value = 'confirmed,preparing,ready_for_pickup'")
                try await ops.submit("order-filters")
                try await ops.expect(
                    "the order under its status filter",
                    "return document.querySelector('#orders tr[data-order=\"' + arguments[0] + '\"]') !== null",
                    [order])
                try await ops.run("document.getElementById('filter-status').value = 'delivered'")
                try await ops.submit("order-filters")
                try await ops.expect(
                    "no delivered order yet", "return !document.getElementById('orders-empty').hidden")
                try await ops.run("document.getElementById('filter-status').value = ''")
                try await ops.submit("order-filters")
                try await ops.expect(
                    "the order again",
                    "return document.querySelector('#orders tr[data-order=\"' + arguments[0] + '\"]') !== null",
                    [order])
                try await ops.shoot("operator-orders")
                try await ops.click("#orders a", text: order)
                try await ops.expectText(
                    "the offer to a-1 with its cost",
                    "const r = document.querySelector('#order-decisions tr[data-outcome=offered]'); return r && r.querySelector('li[data-agent=\"a-1\"]') && r.textContent;",
                    contains: ["cost", "nearest"])
                try await ops.expectText(
                    "the pending offer", "return document.getElementById('order-offers').textContent",
                    contains: ["a-1: pending"])

                // The rider accepts; the operator unassigns it from the page, then assigns it back.
                let accepted = try await client.send(
                    .post, "/v1/orders/\(order)/offer", token: riderToken, json: #"{"decision":"accept"}"#)
                #expect(accepted.status == .ok, "\(accepted.text)")
                try await ops.run(Self.refresh)
                try await ops.expect(
                    "the order assigned, with the unassign form",
                    "const v = document.getElementById('view-order'); return v.dataset.status === 'assigned' && !document.getElementById('unassign').hidden"
                )
                try await ops.fill(["unassign-reason": "the rider's bike broke down"])
                try await ops.submit("unassign")
                try await ops.expect(
                    "the unassignment in the decisions, and the assign form",
                    "return document.querySelector('#order-decisions tr[data-outcome=unassigned]') !== null && !document.getElementById('assign').hidden && document.querySelector('#assign-agent option[value=\"a-1\"]') !== null"
                )
                #expect(try await harness.store.order(id: order)?.agentID == nil)
                try await ops.run("document.getElementById('assign-agent').value = 'a-1'")
                try await ops.submit("assign")
                try await ops.expect(
                    "the order assigned again by the operator",
                    "return document.getElementById('view-order').dataset.status === 'assigned' && document.querySelector('#order-decisions tr[data-outcome=assigned]') !== null"
                )
                #expect(try await harness.store.order(id: order)?.agentID == "a-1")

                // Picked up, a fix on the way, delivered with the cash: the trail and the timeline show it.
                #expect(try await client.act("pickup", order, riderToken, "{}").status == .ok)
                for (seq, lat, lon) in [(3, 12.97800, 77.60200), (4, 12.97900, 77.60100)] {
                    let onTheWay = Fix(
                        agent: "a-1", seq: Int64(seq), time: Timestamp.format(milliseconds: wallClockMilliseconds()),
                        lat: lat, lon: lon, mode: 3)
                    _ = try rig.publisher.client.publish(
                        topic: Topics.fix(agent: "a-1"), payload: onTheWay.jsonBytes(), qos: .atLeastOnce)
                }
                #expect(
                    await eventually {
                        (try? await harness.store.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 10))?
                            .count == 4
                    })
                let delivered = try await client.act("deliver", order, riderToken, #"{"cashCollected":63000}"#)
                #expect(delivered.status == .ok, "\(delivered.text)")
                try await ops.run(Self.refresh)
                try await ops.expectText(
                    "the delivery in the timeline, with the cash",
                    "const r = document.querySelector('#order-events tr[data-status=delivered]'); return r && r.textContent;",
                    contains: ["cash collected ₹630.00"])
                let track = try await ops.expect(
                    "the rider's track since the assignment, drawn as a line",
                    "const n = Number(document.getElementById('order-map').dataset.trackPoints); return n >= 2 && document.querySelectorAll('#order-map path.leaflet-interactive').length === 3 && n;"
                )
                #expect((track as? NSNumber)?.intValue == 2, "\(String(describing: track))")
                try await ops.expectText(
                    "the unassignment in the timeline, with its reason",
                    "const r = document.querySelector('#order-events tr[data-action=unassign]'); return r && r.textContent;",
                    contains: ["Unassigned — back to confirmed", "the rider's bike broke down"])
                try await ops.shoot("operator-order")

                // Alerts: the one raised, linked to the order.
                try await ops.run("location.hash = '#/alerts'")
                try await ops.expectText(
                    "the alert",
                    "const r = document.querySelector('#alerts tr[data-kind=agent_offline_after_pickup]'); return r && r.querySelector('a') && r.textContent;",
                    contains: ["went offline"])

                // Money: a-1 holds the cash it collected (once the payment reactor posted it) and has handed nothing
                // in; the hand-in form balances it.
                #expect(
                    await eventually {
                        (try? await harness.store.agentCashHeld(agent: "a-1", currency: "INR")) == 63_000
                    })
                try await ops.run("location.hash = '#/money'")
                try await ops.expectText(
                    "a-1 flagged, holding ₹630.00",
                    "const r = document.querySelector('#recon tr[data-agent=\"a-1\"]'); return r && r.dataset.flagged === 'true' && r.children[5].textContent === '₹630.00' && r.textContent;",
                    contains: ["Check:"])
                #expect(
                    try await ops.run("return document.getElementById('ledger-totals').dataset.balanced") as? String
                        == "true")
                try await ops.fill(["handin-agent": "a-1", "handin-amount": "630", "handin-note": "end of shift"])
                try await ops.submit("handin")
                try await ops.expectText(
                    "the hand-in recorded",
                    "const s = document.getElementById('handin-status').textContent; return s.startsWith('Recorded') && s;",
                    contains: ["hold ₹0.00 now"])
                try await ops.expect(
                    "a-1 balanced",
                    "const r = document.querySelector('#recon tr[data-agent=\"a-1\"]'); return r && r.dataset.flagged === 'false' && r.textContent.includes('Balanced');"
                )
                try await ops.fill(["handin-agent": "a-1", "handin-amount": "1"])
                try await ops.submit("handin")
                let refused = try await ops.expect(
                    "a hand-in beyond what a-1 holds refused in words",
                    "return document.getElementById('handin-error').textContent")
                #expect((refused as? String)?.isEmpty == false, "\(String(describing: refused))")
                try await ops.shoot("operator-money")

                // Webhooks: the endpoint and its delivery log (the order's events, delivered).
                try await ops.run("location.hash = '#/webhooks'")
                try await ops.click(
                    "#webhooks tr[data-webhook=\"\(webhook)\"] button", text: "Delivery log")
                try await ops.expect(
                    "delivered events in the log",
                    "return document.querySelectorAll('#deliveries tr[data-state=delivered]').length >= 1 && document.getElementById('deliveries').textContent.includes('HTTP 200')"
                )
                #expect(!receiver.succeeded.isEmpty)

                // Health: read from /metrics — a-1 online, the ingest rate measured between two reads.
                try await ops.run("location.hash = '#/health'")
                let online = try await ops.expect(
                    "agents online from /metrics",
                    "const d = document.querySelector('#health dd[data-metric=agents-online]'); return d && d.textContent !== '—' && d.textContent;"
                )
                #expect((online as? String) == "1", "\(String(describing: online))")
                try await ops.run(Self.refresh)
                try await ops.expect(
                    "an ingest rate",
                    "const d = document.querySelector('#health dd[data-metric=ingest]'); return d && /^[0-9.]+ \\/s$/.test(d.textContent);"
                )
                try await ops.shoot("operator-health")

                // The cash on the fleet list follows the hand-in.
                try await ops.run("location.hash = '#/fleet'")
                try await ops.expect(
                    "a-1 holding no cash",
                    "const li = document.querySelector(arguments[0]); return li && li.dataset.cash === '0' && li.textContent.includes('cash: none');",
                    [agentRow])
            } catch {
                try? await ops.session.delete()
                throw error
            }
            try await ops.session.delete()
        }
    }
}
