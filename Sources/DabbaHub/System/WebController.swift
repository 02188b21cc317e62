import HTTPTypes
import HubModel
import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The hub's web pages, public (each page signs in or uses its share link itself):
/// - `GET /` — the operator dashboard (`assets/web/index.html`);
/// - `GET /app` — the customer app (`assets/web/app.html`; its screens are `#/…` routes in the page);
/// - `GET /restaurant` — the restaurant console (`assets/web/restaurant.html`);
/// - `GET /rider` — the rider's view for agents without a device terminal (`assets/web/rider.html`);
/// - `GET /track/{token}` — customer tracking by share link (`assets/web/track.html`; the page reads the token from
///   its own URL);
/// - `GET /web/{file}` — the pages' CSS and JS, by a fixed list of names;
/// - `GET /vendor/leaflet/…` — Leaflet from the `leaflet-dir` key (Debian's `libjs-leaflet`), no CDN;
/// - `GET /v1/web-config` — what the pages need from the configuration (tile URL, payment methods).
///
/// Every answer carries a Content-Security-Policy allowing only the hub itself (plus its WebSockets and the
/// `map-tiles-url` origin's images), `nosniff` and `Referrer-Policy: no-referrer` (a tracking page's URL is a
/// secret).
struct WebController {
    /// The `assets` key: pages live in `assets/web/`.
    let assets: String
    /// The `leaflet-dir` key.
    let leafletDir: String
    /// The `map-tiles-url` key; nil: no tiles.
    let mapTiles: MapTiles?
    /// The `payment-methods` key, and whether the built-in test provider takes the cards.
    let paymentMethods: Set<PaymentMethod>
    let testCards: Bool

    init(
        assets: String, leafletDir: String, mapTiles: MapTiles? = MapTiles(MapTiles.openStreetMap),
        paymentMethods: Set<PaymentMethod> = Set(PaymentMethod.allCases), testCards: Bool = false
    ) {
        self.assets = assets
        self.leafletDir = leafletDir
        self.mapTiles = mapTiles
        self.paymentMethods = paymentMethods
        self.testCards = testCards
        self.contentSecurityPolicy = Self.contentSecurityPolicy(tiles: mapTiles)
    }

    /// The only names `GET /web/{file}` serves.
    static let webFiles: Set<String> = [
        "app.css", "live.js", "operator.js", "track.js", "session.js", "order-view.js", "customer.js",
        "restaurant.js", "rider.js",
    ]

    /// The policy of every answer here: images from the hub and the tile origin only, scripts and styles from the
    /// hub only (no inline code), connections to the hub and its WebSockets.
    let contentSecurityPolicy: String

    static func contentSecurityPolicy(tiles: MapTiles?) -> String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
            + (tiles.map { " " + $0.cspSource } ?? "") + "; "
            + "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            + "frame-ancestors 'none'"
    }

    /// The body of `GET /v1/web-config`.
    struct WebConfig: ResponseEncodable {
        /// Leaflet's tile URL template; null: no tiles.
        var mapTilesURL: String?
        var mapAttribution: String?
        /// The methods checkout offers, in a fixed order.
        var paymentMethods: [String]
        /// True when cards go to the built-in test provider (the checkout lists its test cards).
        var testCards: Bool
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let open = router.group(access: .public)
        open.get("/", use: dashboard)
        open.get("app", use: customerApp)
        open.get("restaurant", use: restaurantConsole)
        open.get("rider", use: riderView)
        open.get("track/:token", use: track)
        open.get("v1/web-config", use: webConfig)
        open.get("web/:file", use: webFile)
        open.get("vendor/leaflet/**", use: leaflet)
    }

    @Sendable func dashboard(_ request: Request, context: HubRequestContext) throws -> Response {
        try serve(assets + "/web/index.html", name: "index.html", cache: "no-cache", context: context)
    }

    @Sendable func customerApp(_ request: Request, context: HubRequestContext) throws -> Response {
        try serve(assets + "/web/app.html", name: "app.html", cache: "no-cache", context: context)
    }

    @Sendable func restaurantConsole(_ request: Request, context: HubRequestContext) throws -> Response {
        try serve(assets + "/web/restaurant.html", name: "restaurant.html", cache: "no-cache", context: context)
    }

    @Sendable func riderView(_ request: Request, context: HubRequestContext) throws -> Response {
        try serve(assets + "/web/rider.html", name: "rider.html", cache: "no-cache", context: context)
    }

    @Sendable func webConfig(_ request: Request, context: HubRequestContext) -> EditedResponse<WebConfig> {
        var headers = HTTPFields()
        headers[.cacheControl] = "no-cache"
        let body = WebConfig(
            mapTilesURL: mapTiles?.template, mapAttribution: mapTiles?.attribution,
            paymentMethods: PaymentMethod.allCases.filter(paymentMethods.contains).map(\.rawValue),
            testCards: testCards && paymentMethods.contains(.card))
        return EditedResponse(status: .ok, headers: headers, response: body)
    }

    @Sendable func track(_ request: Request, context: HubRequestContext) throws -> Response {
        // The token is not checked here: the page's WebSocket answers for an unknown, expired or revoked link.
        try serve(assets + "/web/track.html", name: "track.html", cache: "no-store", context: context)
    }

    @Sendable func webFile(_ request: Request, context: HubRequestContext) throws -> Response {
        guard let name = context.parameters.get("file"), Self.webFiles.contains(name) else {
            throw APIError.notFound("no such web file")
        }
        return try serve(assets + "/web/" + name, name: name, cache: "no-cache", context: context)
    }

    @Sendable func leaflet(_ request: Request, context: HubRequestContext) throws -> Response {
        let parts = context.parameters.getCatchAll().map(String.init)
        guard let relative = Self.safeRelativePath(parts), Self.contentType(of: relative) != nil else {
            throw APIError.notFound("no such Leaflet file")
        }
        return try serve(leafletDir + "/" + relative, name: relative, cache: "public, max-age=86400", context: context)
    }

    /// `parts` joined with `/` when every part is a plain name (letters, digits, `-`, `_`, `.`; not starting with a
    /// dot, so no `..` and no hidden files), at most 3 deep; nil otherwise.
    static func safeRelativePath(_ parts: [String]) -> String? {
        guard !parts.isEmpty, parts.count <= 3 else { return nil }
        for part in parts {
            guard !part.isEmpty, part.count <= 64, part.first != ".",
                part.utf8.allSatisfy({
                    $0.isASCIIAlnum || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
                })
            else { return nil }
        }
        return parts.joined(separator: "/")
    }

    /// The content type by extension, for the kinds of files the pages use; nil for anything else.
    static func contentType(of name: String) -> String? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "html": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js": return "text/javascript; charset=utf-8"
        case "png": return "image/png"
        case "svg": return "image/svg+xml"
        default: return nil
        }
    }

    private func serve(_ path: String, name: String, cache: String, context: HubRequestContext) throws -> Response {
        guard let type = Self.contentType(of: name) else { throw APIError.notFound("no such file") }
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            context.logger.error("Cannot read a web file", metadata: ["file.path": "\(path)"])
            throw APIError.notFound("\(name) is not installed")
        }
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = cache
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension UInt8 {
    fileprivate var isASCIIAlnum: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
