import DabbaProtocol
import Foundation
import HTTPTypes
@testable import HubModel
import HummingbirdTesting
import Testing

@testable import DabbaHub

@Suite(.serialized) struct HTTPAgentsTests {
    static let t0: Int64 = 1_795_000_000_000

    /// Agent a-1 with 25 fixes one second apart (seq 1…25), stored out of order, plus the retained state.
    func seed(_ h: HubHarness) async throws {
        _ = try await h.store.createAgent(id: "a-1", name: "Ravi")
        _ = try await h.store.createAgent(id: "a-2", name: nil)
        let positions = (1...25).reversed().map { i in
            StoredPosition(
                agent: "a-1", seq: Int64(i), time: Self.t0 + Int64(i) * 1000, lat: 22 + Double(i) / 1000, lon: 87)
        }
        _ = try await h.store.store(positions: positions, events: [])
        try await h.store.updateState(
            AgentState(agent: "a-1", online: true, gps: "fix", outboxDepth: 7, oldestUnsentAge: 2.5), at: Self.t0)
        try await h.addUser("op@example.com", role: .operator)
    }

    @Test func positionsPageOldestFirstWithAnOpaqueCursor() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await seed(h)
        try await h.run { client, _ in
            let token = try await client.login("op@example.com").0
            var seqs: [Int] = []
            var uri = "/v1/agents/a-1/positions?limit=10"
            var pages = 0
            while true {
                let page = try await client.send(.get, uri, token: token)
                #expect(page.status == .ok, "\(page.text)")
                let positions = try #require(page.json?["positions"] as? [JSONObject])
                seqs += positions.compactMap { $0["seq"] as? Int }
                pages += 1
                let first = try #require(positions.first)
                #expect(Timestamp.parse(try #require(first["time"] as? String)) != nil)
                #expect((first["time"] as? String)?.hasSuffix("Z") == true && first["lat"] is Double)
                guard let next = page.json?["next"] as? String else {
                    #expect(page.json?.keys.contains("next") == true && page.json?["next"] is NSNull)
                    break
                }
                uri = "/v1/agents/a-1/positions?limit=10&cursor=\(next)"
            }
            #expect(seqs == Array(1...25) && pages == 3)

            let since = Timestamp.format(milliseconds: Self.t0 + 5000)
            let until = Timestamp.format(milliseconds: Self.t0 + 8000)
            let window = try await client.send(
                .get, "/v1/agents/a-1/positions?since=\(since)&until=\(until)", token: token)
            #expect((window.json?["positions"] as? [JSONObject])?.compactMap { $0["seq"] as? Int } == [5, 6, 7])
            let defaults = try await client.send(.get, "/v1/agents/a-1/positions", token: token)
            #expect((defaults.json?["positions"] as? [JSONObject])?.count == 25)

            for (query, word) in [
                ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"), ("since=yesterday", "since"),
                ("until=2026-13-45T00:00:00Z", "until"), ("cursor=%%%", "cursor"),
                ("since=\(until)&until=\(since)", "since"),
            ] {
                let bad = try await client.send(.get, "/v1/agents/a-1/positions?\(query)", token: token)
                #expect(bad.status == .badRequest && bad.errorCode == "bad_request", "\(query): \(bad.text)")
                #expect(bad.text.contains(word), "\(query): \(bad.text)")
            }
        }
    }

    @Test func recordTrackAndFleetShowStateAndLatestFix() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await seed(h)
        try await h.run { client, _ in
            let token = try await client.login("op@example.com").0
            let record = try await client.send(.get, "/v1/agents/a-1", token: token)
            #expect(record.json?["name"] as? String == "Ravi")
            #expect(record.json?["online"] as? Bool == true && record.json?["outboxDepth"] as? Int == 7)
            #expect(record.json?["oldestUnsentAge"] as? Double == 2.5 && record.json?["gps"] as? String == "fix")
            #expect((record.json?["last"] as? JSONObject)?["seq"] as? Int == 25)
            let quiet = try await client.send(.get, "/v1/agents/a-2", token: token)
            #expect(quiet.json?["online"] as? Bool == false && quiet.json?["last"] == nil)

            let list = try await client.send(.get, "/v1/agents", token: token)
            #expect((list.json?["agents"] as? [JSONObject])?.compactMap { $0["id"] as? String } == ["a-1", "a-2"])

            // One agent's record says what the list says of its shift, start included (it used to say null).
            #expect(record.json?["onShift"] as? Bool == false && record.json?["shiftStartedAt"] as? String == nil)
            let start = try await client.send(
                .post, "/v1/agents/a-1/shift", token: token, json: #"{"action":"start"}"#)
            #expect(start.status == .ok, "\(start.text)")
            let onShift = try await client.send(.get, "/v1/agents/a-1", token: token)
            let listed = try await client.send(.get, "/v1/agents", token: token)
            let inList = (listed.json?["agents"] as? [JSONObject])?.first { $0["id"] as? String == "a-1" }
            let started = try #require(onShift.json?["shiftStartedAt"] as? String)
            #expect(onShift.json?["onShift"] as? Bool == true)
            #expect(Timestamp.parse(started) != nil && inList?["shiftStartedAt"] as? String == started)

            let until = Timestamp.format(milliseconds: Self.t0 + 4000)
            let track = try await client.send(.get, "/v1/agents/a-1/track?until=\(until)", token: token)
            #expect(track.json?["type"] as? String == "Feature")
            let geometry = try #require(track.json?["geometry"] as? JSONObject)
            #expect(geometry["type"] as? String == "LineString")
            let coordinates = try #require(geometry["coordinates"] as? [[Double]])
            #expect(coordinates.count == 3 && coordinates[0] == [87, 22.001])
            #expect((track.json?["properties"] as? JSONObject)?["count"] as? Int == 3)
            let empty = try await client.send(.get, "/v1/agents/a-2/track", token: token)
            #expect(empty.status == .ok && empty.json?["geometry"] is NSNull)

            let fleet = try await client.send(.get, "/v1/fleet", token: token)
            let agents = try #require(fleet.json?["agents"] as? [JSONObject])
            #expect(agents.count == 2)
            #expect(
                agents.first { $0["id"] as? String == "a-1" }.flatMap { ($0["last"] as? JSONObject)?["seq"] as? Int }
                    == 25)
        }
    }
}
