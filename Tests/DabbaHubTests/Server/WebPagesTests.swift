import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// The web pages: served with the right headers, and the dashboard driven by a real headless Chromium.
@Suite(.serialized) struct WebPagesTests {
    static let csp = HTTPField.Name("Content-Security-Policy")!

    @Test func pagesAndAssetsAreServedWithContentTypesAndCSP() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.run { client, _ in
            let cases: [(String, String, String)] = [
                ("/", "text/html", "id=\"signin\""),
                ("/track/abc123", "text/html", "/web/track.js"),
                ("/web/app.css", "text/css", ".layout"),
                ("/web/live.js", "text/javascript", "DabbaLive"),
                ("/web/operator.js", "text/javascript", "/v1/fleet/live"),
                ("/web/track.js", "text/javascript", "/v1/track/"),
                ("/app", "text/html", "/web/customer.js"),
                ("/restaurant", "text/html", "/web/restaurant.js"),
                ("/web/session.js", "text/javascript", "/v1/ws-tickets"),
                ("/web/order-view.js", "text/javascript", "createOrderView"),
                ("/web/customer.js", "text/javascript", "/v1/orders"),
                ("/web/restaurant.js", "text/javascript", "prepMinutes"),
                ("/rider", "text/html", "/web/rider.js"),
                ("/web/rider.js", "text/javascript", "/tasks"),
            ]
            for (path, type, marker) in cases {
                let response = try await client.send(.get, path)
                #expect(response.status == .ok, "\(path): \(response.status)")
                #expect(response.headers[.contentType]?.hasPrefix(type) == true, "\(path): \(response.headers)")
                #expect(response.text.contains(marker), "\(path) lacks \(marker)")
                let csp = response.headers[Self.csp] ?? ""
                #expect(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "\(path): \(csp)")
                #expect(csp.contains("connect-src 'self' ws: wss:") && csp.contains("https://tile.openstreetmap.org"))
                #expect(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"))
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[.cacheControl] != nil)
            }
            #expect(try await client.send(.get, "/track/abc123").headers[.cacheControl] == "no-store")
            #expect(try await client.send(.get, "/").headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")

            // The pages load nothing from elsewhere and hold no inline script.
            for path in ["/", "/track/abc123", "/app", "/restaurant", "/rider"] {
                let html = try await client.send(.get, path).text
                #expect(!html.contains("http://") && !html.contains("https://"), "\(path) references another origin")
                let handler = try Regex(" on[a-z]+=")
                #expect(!html.contains("<script>") && !html.contains(handler), "\(path) has inline script")
            }

            for path in [
                "/web/..%2f..%2fetc%2fpasswd", "/web/../../etc/passwd", "/web/nope.js", "/web/index.html",
                "/vendor/leaflet/..%2f..%2f..%2fetc%2fpasswd", "/vendor/leaflet/../../../../etc/passwd",
                "/vendor/leaflet/.hidden.js", "/vendor/leaflet/leaflet.css.gz", "/vendor/leaflet/nope.js",
            ] {
                let response = try await client.send(.get, path)
                #expect(response.status == .notFound, "\(path): \(response.status)")
                #expect(!response.text.contains("root:"), "\(path) leaked a file")
            }
        }
    }

    /// `map-tiles-url` reaches the pages through `GET /v1/web-config`, and the CSP allows images from its origin
    /// only (none when it is empty); the checkout's payment methods come from `payment-methods`.
    @Test func theTileURLIsConfigurationAndThePolicyFollowsIt() async throws {
        let cases: [([String: String], String?, String, [String], Bool)] = [
            (
                [:], MapTiles.openStreetMap, "img-src 'self' data: https://tile.openstreetmap.org;", ["card", "cod"],
                true
            ),
            (
                ["map-tiles-url": "https://{s}.tiles.example.org:8443/osm/{z}/{x}/{y}.png", "payment-methods": "cod"],
                "https://{s}.tiles.example.org:8443/osm/{z}/{x}/{y}.png",
                "img-src 'self' data: https://*.tiles.example.org:8443;", ["cod"], false
            ),
            (["map-tiles-url": ""], nil, "img-src 'self' data:;", ["card", "cod"], true),
        ]
        for (overrides, template, imageSources, methods, testCards) in cases {
            let h = try HubHarness(overrides)
            defer { h.close() }
            try await h.run { client, _ in
                let config = try await client.send(.get, "/v1/web-config")
                #expect(config.status == .ok && config.headers[.contentType]?.hasPrefix("application/json") == true)
                #expect(config.json?["mapTilesURL"] as? String == template, "\(config.text)")
                #expect((config.json?["mapAttribution"] as? String != nil) == (template != nil), "\(config.text)")
                #expect(config.json?["paymentMethods"] as? [String] == methods, "\(config.text)")
                #expect(config.json?["testCards"] as? Bool == testCards, "\(config.text)")
                for path in ["/", "/app", "/restaurant", "/web/customer.js"] {
                    let csp = try await client.send(.get, path).headers[Self.csp] ?? ""
                    #expect(csp.contains(imageSources), "\(path): \(csp)")
                    #expect(template != nil || !csp.contains("openstreetmap"), "\(path): \(csp)")
                }
            }
        }
    }

    @Test func tileURLsThatCouldBreakThePolicyAreRefused() throws {
        for bad in [
            "tile.openstreetmap.org/{z}/{x}/{y}.png", "ftp://tiles.example.org/{z}/{x}/{y}.png",
            "https://tiles.example.org/{z}/{x}.png", "https://tiles.example.org; script-src *; /{z}/{x}/{y}",
            "https://tiles.example.org/{z}/{x}/{y}.png' 'unsafe-inline", "https://*.example.org/{z}/{x}/{y}.png",
            "https://tiles.example.org:99999/{z}/{x}/{y}.png", "https:///{z}/{x}/{y}.png",
            "https://tiles.example.org", "https://a b.org/{z}/{x}/{y}",
        ] {
            #expect(MapTiles(bad) == nil, "\(bad)")
            #expect(throws: ConfigError.self, "\(bad)") { try HubConfiguration.make(["map-tiles-url": bad]) }
        }
        let tiles = try #require(MapTiles("http://127.0.0.1:8081/tiles/{z}/{x}/{y}.png"))
        #expect(tiles.cspSource == "http://127.0.0.1:8081" && tiles.attribution == "Map tiles: 127.0.0.1")
        #expect(MapTiles(MapTiles.openStreetMap)?.attribution == "© OpenStreetMap contributors")
    }

    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: "/usr/share/javascript/leaflet/leaflet.js")
                || ProcessInfo.processInfo.environment["CI"] != nil))
    func leafletIsServedFromTheDebianPackage() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.run { client, _ in
            let js = try await client.send(.get, "/vendor/leaflet/leaflet.js")
            #expect(js.status == .ok && js.headers[.contentType]?.hasPrefix("text/javascript") == true)
            #expect(js.text.contains("Leaflet"))
            #expect(js.headers[.cacheControl]?.contains("max-age") == true && js.headers[Self.csp] != nil)
            let css = try await client.send(.get, "/vendor/leaflet/leaflet.css")
            #expect(css.status == .ok && css.headers[.contentType]?.hasPrefix("text/css") == true)
            let icon = try await client.send(.get, "/vendor/leaflet/images/marker-icon.png")
            #expect(icon.status == .ok && icon.headers[.contentType] == "image/png")
        }
    }

    /// Signs in on `/` in headless Chromium against a live hub fed by real MQTT, and waits for the agent whose fix
    /// was published to appear in the page's list with its position. Skipped only without Chromium outside CI.
    @Test(.enabled(if: WebDriver.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil))
    func dashboardSignsInAndShowsALiveAgentInHeadlessChromium() async throws {
        let rig = try await BrokeredHub.start("web-pages")
        defer { rig.stop() }
        let harness = rig.harness
        let directory = rig.directory
        let publisher = rig.publisher
        try await harness.addUser("ops@example.com", role: .operator)
        _ = try await harness.store.createAgent(id: "a-web-7", name: nil)
        let driver = try await WebDriver.start(directory: directory)
        defer { driver.stop() }

        try await harness.run(.live) { client, hub in
            let port = try #require(client.port)
            #expect(await eventually { hub.mqtt.isSubscribed })
            let session = try await driver.newSession(directory: directory)
            do {
                try await session.navigate(to: "http://127.0.0.1:\(port)/")
                #expect(
                    truthy(try await session.execute("return typeof L === 'object' && typeof DabbaLive === 'object'")))
                try await session.execute(
                    """
                    document.getElementById('email').value = arguments[0];
                    document.getElementById('password').value = arguments[1];
                    document.getElementById('signin').requestSubmit();
                    """, ["ops@example.com", "password-1"])
                let live = try await session.waitFor(
                    "return document.getElementById('connection').dataset.state === 'live'")
                let badge = try? await session.execute(
                    "return document.getElementById('connection').textContent + ' / ' + document.getElementById('signin-error').textContent"
                )
                try #require(live != nil, "the dashboard never went live: \(String(describing: badge))")
                #expect(
                    truthy(
                        try await session.execute(
                            "return sessionStorage.getItem('dabba.operator.accessToken') !== null")))

                let millis = Int64(Date().timeIntervalSince1970 * 1000)
                let fix = Fix(
                    agent: "a-web-7", seq: 1, time: Timestamp.format(milliseconds: millis), lat: 22.31491,
                    lon: 87.31052, mode: 3)
                _ = try publisher.client.publish(
                    topic: Topics.fix(agent: "a-web-7"), payload: fix.jsonBytes(), qos: .atLeastOnce)

                let shown = try await session.waitFor(
                    """
                    const item = document.querySelector('#agents li[data-agent="a-web-7"]');
                    return item && item.dataset.lat ? [item.dataset.lat, item.dataset.lon, item.textContent] : null;
                    """)
                let row = try #require(shown as? [Any], "agent a-web-7 never appeared in the page's list")
                #expect(row.first as? String == "22.31491" && row.dropFirst().first as? String == "87.31052", "\(row)")
                #expect((row.last as? String)?.contains("last fix") == true, "\(row)")
                // One marker on the map for it (the tiles may be offline; markers show regardless).
                let markers = try await session.execute(
                    "return document.querySelectorAll('#map path.leaflet-interactive').length")
                #expect((markers as? NSNumber)?.intValue == 1, "\(String(describing: markers))")
            } catch {
                try? await session.delete()
                throw error
            }
            try await session.delete()
        }
    }
}
