import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// The customer app (`/app`) and the restaurant console (`/restaurant`) driven by headless Chromium against a live
/// hub fed by a real mosquitto: a customer signs up, orders, is declined and then pays by card; the restaurant
/// accepts, prepares and marks the order ready in its console; a rider's fixes move on the customer's map; every
/// status reaches the customer's page without a reload; another customer cannot open the order; the share link
/// opens the tracking page. Screenshots of each screen at 360 px and 1280 px go to `.build/screenshots/`, or to
/// `DABBA_SCREENSHOTS` when set (`make screenshots` sets it to `docs/screenshots/`, the README's), so a test run
/// leaves the working tree as it was.
/// Runs wherever Chromium is installed, and always in CI (`make deps` installs chromium and chromium-driver).
@Suite(.serialized) struct WebAppBrowserTests {
    static let screenshots: URL = {
        if let folder = ProcessInfo.processInfo.environment["DABBA_SCREENSHOTS"], !folder.isEmpty {
            return URL(fileURLWithPath: folder)
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/screenshots")
    }()

    @Test(.enabled(if: WebDriver.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil))
    func aCustomerOrdersAndTheRestaurantServesItLiveInHeadlessChromium() async throws {
        // Dispatch rounds are kept out of the way: the operator assigns the rider by hand below.
        let rig = try await BrokeredHub.start("web-app", ["dispatch-interval": "3600"])
        defer { rig.stop() }
        let harness = rig.harness
        let directory = rig.directory
        let publisher = rig.publisher
        let fixture = try await OrderFixture.make(harness)
        let driver = try await WebDriver.start(directory: directory)
        defer { driver.stop() }

        try await harness.run(.live) { client, hub in
            let port = try #require(client.port)
            let base = "http://127.0.0.1:\(port)"
            #expect(await eventually { hub.mqtt.isSubscribed })
            let customer = try await Page(driver.newSession(directory: directory, profile: "customer"), base: base)
            let kitchen = try await Page(driver.newSession(directory: directory, profile: "kitchen"), base: base)
            let stranger = try await Page(driver.newSession(directory: directory, profile: "stranger"), base: base)
            do {
                // Sign up.
                try await customer.open("/app#/signin")
                try await customer.shoot("customer-signin")
                try await customer.fill(["register-name": "Asha", "register-email": "asha@example.com"])
                try await customer.fill(["register-password": "password-9"])
                try await customer.submit("register")
                try await customer.expect("the restaurants screen", "return document.body.dataset.view === 'browse'")

                // Restaurants near a typed point, then the menu with its options and prices in rupees.
                try await customer.fill(["lat": "12.9800", "lon": "77.6000"])
                try await customer.submit("browse")
                let card = try await customer.expect(
                    "Dosa Corner near the point, with its distance (the first listing, without a point, has none)",
                    "const li = document.querySelector('#restaurants li[data-restaurant=\"r-dosa\"]'); return li && li.textContent.includes('km') && li.textContent;"
                )
                #expect((card as? String)?.contains("Open now") == true, "\(String(describing: card))")
                try await customer.shoot("customer-restaurants")
                try await customer.run("location.hash = '#/restaurants/r-dosa'")
                let item = try await customer.expect(
                    "the masala dosa with its extras",
                    "const li = document.querySelector('li[data-item=\"i-masala\"] form'); return li && li.closest('li').textContent;"
                )
                #expect((item as? String)?.contains("₹250.00") == true, "\(String(describing: item))")
                #expect((item as? String)?.contains("Ghee +₹30.00") == true, "\(String(describing: item))")
                let soldOut = try await customer.run(
                    "return document.querySelector('li[data-item=\"i-gone\"]').textContent")
                #expect((soldOut as? String)?.contains("Sold out") == true, "\(String(describing: soldOut))")
                try await customer.run(
                    """
                    const form = document.querySelector('li[data-item="i-masala"] form');
                    form.querySelector('input[value="o-ghee"]').checked = true;
                    form.querySelector('input[name="quantity"]').value = '2';
                    form.requestSubmit();
                    """)
                try await customer.expect(
                    "two items in the cart", "return document.getElementById('cart-count').textContent === '(2)'")
                try await customer.shoot("customer-menu")

                // The restaurant's console is open before the order arrives.
                try await kitchen.open("/restaurant")
                try await kitchen.fill(["email": fixture.owner.email, "password": "password-1"])
                try await kitchen.submit("signin")
                try await kitchen.expect(
                    "the console, live",
                    "return document.getElementById('connection').dataset.state === 'live' && document.getElementById('incoming-empty').hidden === false"
                )

                // Checkout by card: the first card is declined, and the page says so in words.
                try await customer.run("location.hash = '#/cart'")
                try await customer.expect(
                    "the checkout",
                    "return document.body.dataset.view === 'cart' && !document.getElementById('cart-body').hidden")
                let subtotal = try await customer.run("return document.getElementById('cart-subtotal').textContent")
                #expect(subtotal as? String == "₹560.00", "\(String(describing: subtotal))")
                try await customer.expect("the card option", "return !document.getElementById('test-cards').hidden")
                try await customer.fill(["address": "1 MG Road, flat 4"])
                try await customer.run("document.getElementById('method-card').click()")
                try await customer.fill(["card": "4000 0000 0000 0002"])
                try await customer.shoot("customer-checkout")
                try await customer.submit("checkout")
                let declined = try await customer.expect(
                    "the decline in words",
                    "const p = document.getElementById('payment-state'); return document.body.dataset.view === 'order' && p.textContent.includes('declined') && p.textContent;"
                )
                #expect(
                    (declined as? String)?.contains("Your card was declined") == true, "\(String(describing: declined))"
                )
                let order = try #require(
                    try await customer.run("return decodeURIComponent(location.hash.split('/')[2])") as? String)
                try await customer.expect(
                    "a pay form after the decline", "return !document.getElementById('pay').hidden")
                try await customer.fill(["pay-card": "4242424242424242"])
                try await customer.submit("pay")
                try await customer.expect(
                    "the payment authorized",
                    "return document.getElementById('payment-state').textContent.includes('Paid by card ending 4242')")
                try await customer.expect(
                    "the live feed", "return document.getElementById('connection').dataset.state === 'live'")
                try await customer.run("window.sameDocument = 'yes'")

                // The restaurant sees the new order arrive highlighted, accepts it, prepares it and marks it ready.
                let incoming = "#incoming li[data-order=\"\(order)\"]"
                try await kitchen.expect(
                    "the new order, highlighted", "return document.querySelector('\(incoming).new') !== null")
                let title = try await kitchen.run("return document.title")
                #expect((title as? String)?.hasPrefix("(1) New orders") == true, "\(String(describing: title))")
                try await kitchen.shoot("restaurant-console")
                try await kitchen.run(
                    "const c = document.querySelector('\(incoming)'); c.querySelector('input[type=number]').value = '20'; c.querySelector('form').requestSubmit();"
                )
                try await customer.expectStatus("confirmed")
                try await kitchen.click("#active li[data-order=\"\(order)\"] button", text: "Start preparing")
                try await customer.expectStatus("preparing")
                try await kitchen.click("#active li[data-order=\"\(order)\"] button", text: "Ready for pickup")
                try await customer.expectStatus("ready_for_pickup")
                let today = try await kitchen.expect(
                    "today's table",
                    "const r = document.querySelector('#today tr[data-order=\"\(order)\"]'); return r && r.textContent;"
                )
                #expect((today as? String)?.contains("Ready for pickup") == true, "\(String(describing: today))")

                // A rider is assigned; its fixes move on the customer's map.
                try await DispatchTests.onShiftAndOnline(harness.store, "a-1")
                let (operatorToken, _) = try await client.login(fixture.operatorUser.email)
                let assigned = try await client.act("assign", order, operatorToken, #"{"agent":"a-1"}"#)
                #expect(assigned.status == .ok, "\(assigned.text)")
                try await customer.expectStatus("assigned")
                for (seq, lat, lon) in [(1, 12.97600, 77.60400), (2, 12.97800, 77.60200)] {
                    let fix = Fix(
                        agent: "a-1", seq: Int64(seq), time: Timestamp.format(milliseconds: wallClockMilliseconds()),
                        lat: lat, lon: lon, mode: 3)
                    _ = try publisher.client.publish(
                        topic: Topics.fix(agent: "a-1"), payload: fix.jsonBytes(), qos: .atLeastOnce)
                    let at = String(format: "%.5f,%.5f", lat, lon)
                    try await customer.expect(
                        "the rider at \(at)",
                        "return document.getElementById('order-live').dataset.riderAt === '\(at)'")
                }
                let eta = try await customer.run(
                    "return document.querySelector('#order-live [data-field=eta]').textContent")
                #expect((eta as? String)?.contains("min") == true, "\(String(describing: eta))")
                let (riderToken, _) = try await client.login(fixture.agentUser.email)
                #expect(try await client.act("pickup", order, riderToken, "{}").status == .ok)
                try await customer.expectStatus("picked_up")
                try await customer.shoot("customer-order")

                // History and a share link, which opens the tracking page for anyone holding it.
                try await customer.click("#share", text: "Share a tracking link")
                let link = try await customer.expect(
                    "a tracking link",
                    "const v = document.getElementById('share-url').value; return v.includes('/track/') && v;")
                #expect(try await customer.run("return window.sameDocument") as? String == "yes", "the page reloaded")
                #expect(try await client.act("deliver", order, riderToken, "{}").status == .ok)
                try await customer.expectStatus("delivered")
                let steps = try await customer.run(
                    "return Array.from(document.querySelectorAll('#order-live [data-field=timeline] li')).map(li => li.dataset.status).join(',')"
                )
                #expect(
                    steps as? String == "placed,confirmed,preparing,ready_for_pickup,assigned,picked_up,delivered",
                    "\(String(describing: steps))")
                try await customer.run("location.hash = '#/orders'")
                try await customer.expect(
                    "the order in the history",
                    "const li = document.querySelector('#orders li[data-order=\"\(order)\"]'); return li && li.textContent.includes('Delivered');"
                )
                try await customer.shoot("customer-orders")

                // Another customer cannot open the order page; the share link works without signing in.
                try await stranger.open("/app#/orders/\(order)")
                try await stranger.expect("the sign-in screen", "return document.body.dataset.view === 'signin'")
                try await stranger.fill(["signin-email": fixture.customerB.email, "signin-password": "password-1"])
                try await stranger.submit("signin")
                let refused = try await stranger.expect(
                    "the refusal",
                    "const v = document.getElementById('view-order'); return v.dataset.denied === 'true' && document.getElementById('order-notice').textContent;"
                )
                #expect(
                    refused as? String == "There is no such order in your account.", "\(String(describing: refused))")
                let leaked = try await stranger.run(
                    "return document.querySelectorAll('#order-live [data-field=timeline] li').length + document.querySelectorAll('#order-items li').length"
                )
                #expect((leaked as? NSNumber)?.intValue == 0, "\(String(describing: leaked))")
                try await stranger.navigate(try #require(link as? String))
                try await stranger.expect(
                    "the tracking page", "return document.getElementById('order-live').dataset.status === 'delivered'")
                try await stranger.shoot("track")

                // The kitchen adds a section and an item, then changes its price; the customer's menu shows it.
                try await kitchen.fill(["section-name": "Drinks"])
                try await kitchen.submit("add-section")
                let section = try #require(
                    try await kitchen.expect(
                        "the new section",
                        "const f = Array.from(document.querySelectorAll('#menu fieldset[data-section]')).find(f => f.querySelector('legend').textContent === 'Drinks'); return f && f.dataset.section;"
                    ) as? String)
                try await kitchen.fill(["name-new-\(section)": "Filter coffee", "price-new-\(section)": "40"])
                try await kitchen.run(
                    "document.getElementById(arguments[0]).closest('form').requestSubmit()", ["name-new-\(section)"])
                let coffee = try #require(
                    try await kitchen.expect(
                        "the new item",
                        "const r = Array.from(document.querySelectorAll('#menu .menu-item')).find(r => r.textContent.includes('Filter coffee · ₹40.00')); return r && r.dataset.item;"
                    ) as? String)
                try await kitchen.click("#menu .menu-item[data-item=\"\(coffee)\"] button", text: "Edit")
                try await kitchen.fill(["price-\(coffee)": "45.50"])
                try await kitchen.run(
                    "document.getElementById(arguments[0]).closest('form').requestSubmit()", ["price-\(coffee)"])
                try await kitchen.expect(
                    "the new price",
                    "const r = document.querySelector('#menu .menu-item[data-item=\"' + arguments[0] + '\"]'); return r && r.textContent.includes('Filter coffee · ₹45.50');",
                    [coffee])
                // Its option groups, one per line: a wrong range is named; a right one is saved as groups.
                try await kitchen.click("#menu .menu-item[data-item=\"\(coffee)\"] button", text: "Edit")
                try await kitchen.fill(["options-\(coffee)": "Size 2-1: Small, Large +10"])
                try await kitchen.run(
                    "document.getElementById(arguments[0]).closest('form').requestSubmit()", ["options-\(coffee)"])
                let wrongRange = try await kitchen.expect(
                    "the wrong range named",
                    "const f = document.getElementById(arguments[0]).closest('form'); const e = f.querySelector('[role=alert]'); return e.textContent;",
                    ["options-\(coffee)"])
                #expect(
                    (wrongRange as? String)?.hasPrefix("Line 1: Size 2-1") == true, "\(String(describing: wrongRange))")
                try await kitchen.fill(["options-\(coffee)": "Size 1-1: Small, Large +10\nExtras: Sugar, Jaggery +5.50"]
                )
                try await kitchen.run(
                    "document.getElementById(arguments[0]).closest('form').requestSubmit()", ["options-\(coffee)"])
                try await kitchen.expect(
                    "the options saved (the menu reloaded, the form closed)",
                    "return document.getElementById(arguments[0]) === null", ["options-\(coffee)"])
                let menu = try await client.send(.get, "/v1/restaurants/r-dosa/menu")
                let items = (menu.json?["sections"] as? [[String: Any]])?.flatMap {
                    $0["items"] as? [[String: Any]] ?? []
                }
                let groups = items?.first { $0["id"] as? String == coffee }?["optionGroups"] as? [[String: Any]]
                #expect(
                    groups?.map { "\($0["name"] ?? "") \($0["minChoices"] ?? "")-\($0["maxChoices"] ?? "")" }
                        == ["Size 1-1", "Extras 0-1"], "\(menu.text)")
                let prices = groups?.flatMap { ($0["choices"] as? [[String: Any]]) ?? [] }.map {
                    "\($0["name"] ?? "") \(($0["price"] as? NSNumber)?.intValue ?? -1)"
                }
                #expect(prices == ["Small 0", "Large 1000", "Sugar 0", "Jaggery 550"], "\(menu.text)")
                try await kitchen.run("document.getElementById('menu-title').scrollIntoView()")
                try await kitchen.shoot("restaurant-menu")

                // A card that needs verification is said so in words; the order can be cancelled while placed.
                try await customer.run("location.hash = '#/restaurants/r-dosa'")
                let drink = try await customer.expect(
                    "the menu again, with the kitchen's new item",
                    "const li = document.querySelector('li[data-item=\"' + arguments[0] + '\"]'); return document.querySelector('li[data-item=\"i-masala\"] form') !== null && li && li.textContent;",
                    [coffee])
                #expect((drink as? String)?.contains("Filter coffee₹45.50") == true, "\(String(describing: drink))")
                try await customer.checkOutOneMasalaDosa(card: "4000000000003220")
                let verifying = try await customer.expect(
                    "the verification in words",
                    "const p = document.getElementById('payment-state'); return document.body.dataset.view === 'order' && location.hash !== '#/orders/\(order)' && p.textContent.includes('verify') && p.textContent;"
                )
                #expect(
                    (verifying as? String)?.contains("Your bank needs to verify this payment") == true,
                    "\(String(describing: verifying))")
                try await customer.expectStatus("placed")
                try await customer.expect("the cancel form", "return !document.getElementById('cancel').hidden")
                try await customer.submit("cancel")
                try await customer.expectStatus("cancelled")
                try await customer.expect(
                    "no cancel form once cancelled", "return document.getElementById('cancel').hidden")

                // Opening hours: a day written wrongly is named; split shifts and one past midnight are kept.
                try await kitchen.fill(["hours-tue": "9am to 5pm"])
                try await kitchen.submit("hours")
                let wrong = try await kitchen.expect(
                    "the bad day named", "return document.getElementById('hours-error').textContent")
                #expect((wrong as? String)?.hasPrefix("Tuesday:") == true, "\(String(describing: wrong))")
                try await kitchen.run(
                    "document.querySelectorAll('#hours-days input').forEach(i => { i.value = ''; })")
                try await kitchen.fill(["hours-mon": "11:00-15:00, 18:00-2:00"])
                try await kitchen.submit("hours")
                try await kitchen.expect(
                    "the hours saved", "return document.getElementById('hours-status').textContent.startsWith('Saved.')"
                )
                let saved = try await client.send(.get, "/v1/restaurants/r-dosa")
                let hours = (saved.json?["hours"] as? [String: Any])?["hours"] as? [String: Any]
                #expect(hours?.keys.sorted() == ["mon"], "\(saved.text)")
                #expect(hours?["mon"] as? [[String]] == [["11:00", "15:00"], ["18:00", "02:00"]], "\(saved.text)")
                try await kitchen.run("document.getElementById('hours-title').scrollIntoView()")
                try await kitchen.shoot("restaurant-hours")
            } catch {
                for page in [customer, kitchen, stranger] { try? await page.session.delete() }
                throw error
            }
            for page in [customer, kitchen, stranger] { try await page.session.delete() }
        }
    }

    /// The rider's view (`/rider`) in headless Chromium: an agent signs in, starts the shift, and the hub's dispatch
    /// offers it an order; the rider sees the offer with its countdown and the cash to collect, accepts, picks up
    /// and delivers — each through the same paths as the device's events — and the day's count shows the delivery.
    @Test(.enabled(if: WebDriver.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil))
    func aRiderTakesAnOfferPicksUpAndDeliversInHeadlessChromium() async throws {
        // Rounds run on order events and shift changes (no periodic round); offers stay open for ten minutes.
        let rig = try await BrokeredHub.start(
            "web-rider", ["dispatch-policy": "nearest", "dispatch-interval": "3600", "offer-timeout": "600"])
        defer { rig.stop() }
        let harness = rig.harness
        let fixture = try await OrderFixture.make(harness)
        let driver = try await WebDriver.start(directory: rig.directory)
        defer { driver.stop() }

        try await harness.run(.live) { client, hub in
            let port = try #require(client.port)
            let rider = try await Page(
                driver.newSession(directory: rig.directory, profile: "rider"), base: "http://127.0.0.1:\(port)")
            do {
                try await rider.open("/rider")
                try await rider.fill(["email": fixture.agentUser.email, "password": "password-1"])
                try await rider.submit("signin")
                try await rider.expect(
                    "the rider's view, live and off shift",
                    "return document.getElementById('connection').dataset.state === 'live' && document.getElementById('shift').textContent === 'Start shift'"
                )
                // Online with a fix at the restaurant, off shift: the confirmed order waits until the rider starts.
                try await DispatchTests.makeAvailable(harness.store, "a-1", lat: 12.9751, lon: 77.6051, onShift: false)
                let order = try await DispatchTests.confirmedOrder(client, fixture)
                try await rider.click("#shift", text: "Start shift")
                let offer = "#offers li[data-order=\"\(order)\"]"
                let card = try await rider.expect(
                    "the offer with its countdown and the cash to collect",
                    "const c = document.querySelector(arguments[0]); return c && c.textContent.includes('Answer within') && c.textContent;",
                    [offer])
                #expect((card as? String)?.contains("From Dosa Corner") == true, "\(String(describing: card))")
                #expect((card as? String)?.contains("Collect ₹") == true, "\(String(describing: card))")
                #expect(
                    try await rider.run("return document.getElementById('shift-state').textContent") as? String
                        == "On shift — taking orders")
                try await rider.shoot("rider-offer")

                try await rider.click("\(offer) button", text: "Accept")
                let current = "#current li[data-order=\"\(order)\"]"
                try await rider.expect(
                    "the order to pick up", "return document.querySelector(arguments[0] + ' a') !== null", [current])
                #expect(try await harness.store.order(id: order)?.agentID == "a-1")
                try await rider.click("\(current) button", text: "Picked up")
                let cash = try await rider.expect(
                    "the delivery form with the cash to collect",
                    "const i = document.querySelector(arguments[0] + ' input'); return i && i.value;", [current])
                #expect(cash as? String == "630.00", "\(String(describing: cash))")
                try await rider.shoot("rider-delivery")
                try await rider.click("\(current) button", text: "Delivered")
                try await rider.expect(
                    "nothing left to deliver, and today's count",
                    "return !document.getElementById('current-empty').hidden && document.getElementById('today').textContent.startsWith('1 delivery today')"
                )
                // The cash it now holds, against the limit, once the payment reactor has posted the collection.
                let holding = try await rider.expect(
                    "the cash held against the limit",
                    "const c = document.getElementById('cash'); return c.dataset.held === '63000' && c.textContent;")
                #expect(
                    (holding as? String)?.hasPrefix("Holding ₹630.00 of cash; limit ₹") == true,
                    "\(String(describing: holding))")
                let delivered = try #require(try await harness.store.order(id: order))
                #expect(delivered.status == .delivered, "\(delivered.status)")
                let cashEvent = try await harness.store.orderEvents(order: order).last
                #expect(
                    cashEvent?.status == .delivered && cashEvent?.cashCollected == 63_000,
                    "\(String(describing: cashEvent))")
                let trail = try await harness.store.orderEvents(order: order).map(\.actor)
                #expect(trail.contains("agent:a-1"), "\(trail)")
            } catch {
                try? await rider.session.delete()
                throw error
            }
            try await rider.session.delete()
            _ = hub
        }
    }

    /// One browser window on the hub, with the few things the test does to pages.
    struct Page {
        let session: WebDriver.Session
        let base: String

        init(_ session: WebDriver.Session, base: String) {
            self.session = session
            self.base = base
        }

        func open(_ path: String) async throws { try await session.navigate(to: base + path) }
        func navigate(_ url: String) async throws { try await session.navigate(to: url) }

        @discardableResult
        func run(_ script: String, _ args: [Any] = []) async throws -> Any? { try await session.execute(script, args) }

        /// Sets inputs by id (an `input` event each, as typing sends).
        func fill(_ values: [String: String]) async throws {
            for (id, value) in values {
                try await run(
                    "const e = document.getElementById(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event('input', {bubbles: true}));",
                    [id, value])
            }
        }

        func submit(_ form: String) async throws {
            try await run("document.getElementById(arguments[0]).requestSubmit()", [form])
        }

        /// Clicks the first `selector` match whose text is `text`, once it exists.
        func click(_ selector: String, text: String) async throws {
            try await expect(
                "a \(text) button",
                "const b = Array.from(document.querySelectorAll(arguments[0])).find(b => b.textContent === arguments[1] && !b.disabled); if (!b) return false; b.click(); return true;",
                [selector, text])
        }

        /// Waits for `script` to return something truthy; fails with what the page shows otherwise.
        @discardableResult
        func expect(_ what: String, _ script: String, _ args: [Any] = []) async throws -> Any? {
            if let value = try await session.waitFor(script, args) { return value }
            let shown = try? await run(
                "return [location.href, document.getElementById('connection')?.textContent, Array.from(document.querySelectorAll('[role=alert]')).map(e => e.textContent).filter(Boolean).join(' | ')].join(' — ')"
            )
            throw TestSupportError("never saw \(what): \(String(describing: shown))")
        }

        /// From the restaurant's menu on screen: one masala dosa (no options) into the cart, then checkout by `card`
        /// to 1 MG Road.
        func checkOutOneMasalaDosa(card: String) async throws {
            try await run("document.querySelector('li[data-item=\"i-masala\"] form').requestSubmit()")
            try await expect(
                "one item in the cart", "return document.getElementById('cart-count').textContent === '(1)'")
            try await run("location.hash = '#/cart'")
            try await expect("the checkout", "return !document.getElementById('cart-body').hidden")
            try await run("document.getElementById('method-card').click()")
            try await fill(["address": "1 MG Road, flat 4", "card": card])
            try await submit("checkout")
        }

        /// Waits for `script` to return a string, and checks that it holds each of `contains`; returns it.
        @discardableResult
        func expectText(
            _ what: String, _ script: String, _ args: [Any] = [], contains: [String],
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> String {
            let text = try await expect(what, script, args) as? String ?? ""
            for part in contains {
                #expect(text.contains(part), "\(what): \(text)", sourceLocation: sourceLocation)
            }
            return text
        }

        /// Waits until the live order view shows `status` (the live feed's frame, with no reload).
        func expectStatus(_ status: String) async throws {
            try await expect(
                "status \(status)",
                "const p = document.getElementById('order-live'); return p.dataset.status === arguments[0] && p.querySelector('[data-field=timeline] li[data-status=\"' + arguments[0] + '\"]') !== null;",
                [status])
        }

        /// Screenshots at 360 px and 1280 px into ``WebAppBrowserTests/screenshots``, after checking that every control shown has a
        /// label (its own `<label>` or an `aria-label`).
        func shoot(_ name: String) async throws {
            let unlabelled = try await run(
                """
                return Array.from(document.querySelectorAll('input, select, textarea, button'))
                  .filter(e => e.offsetParent !== null && e.type !== 'hidden')
                  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
                  .map(e => e.id || e.name || e.outerHTML.slice(0, 80));
                """)
            #expect(
                (unlabelled as? [Any])?.isEmpty == true,
                "\(name): unlabelled controls \(String(describing: unlabelled))")
            try await session.screenshots(name, into: WebAppBrowserTests.screenshots)
        }
    }
}
