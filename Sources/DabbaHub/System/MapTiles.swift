/// The web pages' map tiles: the `map-tiles-url` key, a Leaflet URL template such as
/// `https://tile.openstreetmap.org/{z}/{x}/{y}.png` (`{s}` as the first label of the host picks Leaflet's a/b/c
/// subdomains). Empty means no tiles: the maps show markers, routes and zones on a blank background.
///
/// The template reaches the pages through `GET /v1/web-config` and the Content-Security-Policy allows images from
/// its origin only, so the template is checked strictly: `http` or `https`, a host of letters, digits, `-` and `.`
/// (optionally `{s}.` first and `:port` after), a path holding `{z}`, `{x}` and `{y}`, and none of the characters
/// that could break out of a CSP source or a URL (quotes, spaces, `;`, `,`, `<`, `>`, `\`).
package struct MapTiles: Sendable, Equatable {
    /// The template as configured.
    package let template: String
    /// The CSP source the template's images come from: `https://tile.openstreetmap.org`, or `https://*.host` for
    /// a `{s}.host` template.
    package let cspSource: String
    /// The credit line Leaflet shows: OpenStreetMap's for its own tiles, the host's name otherwise.
    package let attribution: String

    package static let openStreetMap = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

    /// Parses `template`; nil when it breaks a rule above.
    package init?(_ template: String) {
        guard template.utf8.count <= 300,
            !template.contains(where: { " \t\r\n'\";,<>\\`".contains($0) }),
            template.contains("{z}"), template.contains("{x}"), template.contains("{y}")
        else { return nil }
        let scheme: String
        if template.hasPrefix("https://") {
            scheme = "https://"
        } else if template.hasPrefix("http://") {
            scheme = "http://"
        } else {
            return nil
        }
        let rest = template.dropFirst(scheme.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        var host = String(rest[..<slash])
        var wildcard = false
        if host.hasPrefix("{s}.") {
            wildcard = true
            host.removeFirst(4)
        }
        let hostName = host.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let name = hostName.first, !name.isEmpty, name.first != ".", name.last != ".",
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }),
            hostName.count == 1 || Self.isPort(hostName[1])
        else { return nil }
        self.template = template
        self.cspSource = scheme + (wildcard ? "*." : "") + host
        let lowered = name.lowercased()
        self.attribution =
            lowered == "openstreetmap.org" || lowered.hasSuffix(".openstreetmap.org")
            ? "© OpenStreetMap contributors" : "Map tiles: " + lowered
    }

    /// 1 to 65535, digits only.
    private static func isPort(_ text: Substring) -> Bool {
        guard (1...5).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(text) else {
            return false
        }
        return (1...65535).contains(port)
    }
}
