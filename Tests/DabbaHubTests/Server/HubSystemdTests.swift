import DabbaHub
@testable import DabbaHubServer
import DabbaTestSupport
import Foundation
import Testing

@Suite struct HubSystemdTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test func shippedDefaultFileIsWhatDefaultsPrints() async throws {
        let shipped = try String(
            contentsOf: Self.root.appendingPathComponent("systemd/dabba-hub.default"), encoding: .utf8)
        let (status, printed) = try await runToCompletion(try BuiltProducts.path(of: "dabba-hub"), ["defaults"])
        #expect(status == 0)
        #expect(shipped == printed, "regenerate with: dabba-hub defaults > systemd/dabba-hub.default")
        for key in ["DABBA_HTTP_PORT=8080", "DABBA_DATABASE=sqlite:/var/lib/dabba-hub/hub.db", "DABBA_INGEST_GROUP="] {
            #expect(shipped.contains("#" + key + "\n"))
        }
    }

    @Test func everyKeyHasAFlag() throws {
        for key in HubConfiguration.keys {
            let options = try HubOptions.parse(["--\(key.name)", "x"])
            #expect(try options.flagValues == [key.name: "x"], "no flag for \(key.name)")
        }
    }

    @Test func unitPassesSystemdAnalyzeVerify() async throws {
        guard let analyze = findExecutable("systemd-analyze") else {
            Issue.record("systemd-analyze is not installed")
            return
        }
        let dir = try TestDirectory()
        defer { dir.remove() }
        let unit = try String(
            contentsOf: Self.root.appendingPathComponent("systemd/dabba-hub.service"), encoding: .utf8)
        for required in [
            "EnvironmentFile=-/etc/default/dabba-hub", "StateDirectory=dabba-hub", "User=dabba-hub",
            "ProtectSystem=strict", "NoNewPrivileges=yes",
        ] {
            #expect(unit.contains(required))
        }
        let copy = dir.path("dabba-hub.service")
        try unit.replacingOccurrences(of: "/usr/local/bin/dabba-hub", with: try BuiltProducts.path(of: "dabba-hub"))
            .write(toFile: copy, atomically: true, encoding: .utf8)
        let (status, output) = try await runToCompletion(analyze, ["verify", copy])
        #expect(status == 0 && output.isEmpty, "systemd-analyze verify: \(output)")
    }
}
