import DabbaSQLite
import Foundation
import HTTPTypes
@testable import HubModel
import HummingbirdTesting
import Testing

@testable import DabbaHub

@Suite(.serialized) struct HTTPErrorTests {
    @Test func unknownRoutesBadJSONAndOversizedBodiesAnswerInTheErrorShape() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.run { client, _ in
            let unknown = try await client.send(.get, "/no/such/thing")
            #expect(unknown.status == .notFound && unknown.errorCode == "not_found", "\(unknown.text)")
            #expect(unknown.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(unknown.headers[HTTPField.Name("x-request-id")!]?.isEmpty == false)

            let echoed = try await client.send(
                .get, "/health", headers: [HTTPField.Name("x-request-id")!: "trace-42"])
            #expect(echoed.headers[HTTPField.Name("x-request-id")!] == "trace-42")
            let replaced = try await client.send(
                .get, "/health", headers: [HTTPField.Name("x-request-id")!: "bad id\u{7}"])
            #expect(replaced.headers[HTTPField.Name("x-request-id")!] != "bad id\u{7}")

            let garbage = try await client.send(.post, "/v1/auth/login", json: "{not json")
            #expect(garbage.status == .badRequest && garbage.errorCode == "bad_request", "\(garbage.text)")

            let big = #"{"email":"a@example.com","password":"\#(String(repeating: "x", count: 5000))","name":"A"}"#
            let tooLarge = try await client.send(.post, "/v1/auth/register", json: big)
            #expect(tooLarge.status == .contentTooLarge && tooLarge.errorCode == "too_large", "\(tooLarge.text)")
            #expect(tooLarge.text.contains("4096"))
        }
    }

    @Test func healthMetricsAndOpenAPIRespond() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.run { client, hub in
            let health = try await client.send(.get, "/health")
            #expect(health.status == .ok)
            #expect(health.json?["database"] as? String == "ok" && health.json?["broker"] as? String == "disconnected")

            hub.metrics.ingestCommitted.increment(by: 3)
            let ping = try await client.send(.get, "/v1/ping")
            #expect(ping.status == .ok && ping.text == #"{"ok":true}"#)
            #expect(ping.headers[.contentType] == "application/json" && ping.headers[.cacheControl] == "no-store")

            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.status == .ok && metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(metrics.text.contains("dabba_ingest_committed_total 3"), "\(metrics.text)")

            let spec = try await client.send(.get, "/openapi.yaml")
            #expect(spec.status == .ok && spec.text.hasPrefix("openapi: 3.1"))
            for path in [
                "/health:", "/v1/ping:", "/metrics:", "/v1/auth/register:", "/v1/auth/login:", "/v1/auth/refresh:",
                "/v1/auth/logout:", "/v1/auth/password:", "/v1/users/{id}/disable:", "/v1/users/{id}/enable:",
                "/v1/users/{id}/revoke-tokens:",
                "/v1/ws-tickets:", "/v1/agents:", "/v1/agents/{id}:", "/v1/agents/{id}/positions:",
                "/v1/agents/{id}/track:", "/v1/agents/{id}/seq-conflicts:", "/v1/fleet:", "/v1/fleet/live:",
                "/v1/orders/{id}/live:", "/v1/webhooks:",
                "/v1/webhooks/{id}:", "/v1/webhooks/{id}/deliveries:",
                "/v1/restaurants:", "/v1/restaurants/{id}:", "/v1/restaurants/{id}/pause:",
                "/v1/restaurants/{id}/unpause:",
                "/v1/restaurants/{id}/menu:", "/v1/restaurants/{id}/menu/sections:",
                "/v1/restaurants/{id}/menu/sections/{section}:", "/v1/restaurants/{id}/menu/items:",
                "/v1/restaurants/{id}/menu/items/{item}:", "/v1/zones:", "/v1/zones/lookup:", "/v1/zones/{id}:",
                "/v1/orders:", "/v1/orders/{id}:", "/v1/orders/{id}/events:", "/v1/orders/{id}/share:",
                "/v1/track/{token}/live:", "/delivery:", "/delivery/{id}:", "/newdelivery:", "/v1/agents/{id}/shift:",
                "/v1/orders/{id}/offer:", "/v1/orders/{id}/dispatch:", "/v1/alerts:",
                "/v1/orders/{id}/payments:", "/v1/payments/{id}:", "/v1/payments/{id}/capture:",
                "/v1/payments/{id}/refunds:", "/v1/payments/webhooks/{provider}:", "/v1/payments/dead-letters:",
                "/v1/payments/dead-letters/{key}/retry:", "/v1/ledger/balances:",
                "/v1/ledger/statement:", "/v1/ledger/reconciliation:", "/v1/ledger/cash-handins:",
                "/v1/ledger/agents/{id}/cash:",
            ] + OrderAction.allCases.map { "/v1/orders/{id}/\($0.routeName):" } {
                #expect(spec.text.contains("  \(path)\n"), "openapi.yaml lacks \(path)")
            }
        }
    }

    @Test func healthAnswers503WhenTheDatabaseFails() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.run { client, _ in
            #expect(try await client.send(.get, "/health").status == .ok)
            // Another process breaks the schema under the running hub.
            do {
                let intruder = try SQLiteConnection(path: h.configuration.sqlitePath!)
                // The hub's background services write too (webhook passes): wait for the lock like they do.
                try intruder.execute("PRAGMA busy_timeout = 5000")
                try intruder.execute("DROP TABLE positions")
            }
            let health = try await client.send(.get, "/health")
            #expect(health.status == .serviceUnavailable, "\(health.text)")
            #expect(health.json?["status"] as? String == "down" && health.json?["database"] as? String == "error")
        }
    }
}
