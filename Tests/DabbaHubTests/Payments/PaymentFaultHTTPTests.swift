import DabbaCore
import DabbaTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// The running hub (its routes, its payment reactor as a service) with ``FaultyPaymentProvider`` in place of the
/// test provider: the failures of issue 14 through the HTTP API.
@Suite(.serialized) struct PaymentFaultHTTPTests {
    static func key(_ value: String) -> HTTPFields { [HTTPField.Name("Idempotency-Key")!: value] }

    /// Fast payment settings for a hub under test.
    static let fast = [
        "payment-poll-interval": "0.05", "payment-retry-base": "0.05", "payment-retry-max": "0.2",
        "payment-max-attempts": "3", "payment-provider-timeout": "3",
    ]

    @Test func providerFailuresThroughTheAPI() async throws {
        let h = try HubHarness(Self.fast)
        defer { h.close() }
        _ = try await OrderFixture.make(h)
        let fake = FaultyPaymentProvider()
        try await h.run(configure: { $0.paymentProviders = PaymentProviders([fake]) }) { client, hub in
            let customer = try await client.login("a@example.com").0
            let owner = try await client.login("owner@example.com").0
            let op = try await client.login("op@example.com").0
            let agent = try await client.login("ravi@example.com").0
            let order = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "card"))

            // 1. Authorize: the provider places the hold, the answer is lost and the status query fails too: 503,
            // and the retry with the same Idempotency-Key pays (no 409 from a payment left waiting).
            let once = Once()
            fake.setPlan { call, _, _ in
                if call == .authorize, once.first("authorize") { return .timeoutAfterActing }
                if call == .status, once.first("status") { return .serverError }
                return nil
            }
            let card = #"{"card":"4242424242424242"}"#
            let lost = try await client.send(
                .post, "/v1/orders/\(order)/payments", token: customer, json: card, headers: Self.key("pay-1"))
            #expect(lost.status == .serviceUnavailable && lost.text.contains("pay again"), "\(lost.text)")
            let paid = try await client.send(
                .post, "/v1/orders/\(order)/payments", token: customer, json: card, headers: Self.key("pay-1"))
            #expect(paid.status == .created && paid.json?["state"] as? String == "authorized", "\(paid.text)")
            let payment = try #require(paid.json?["id"] as? String)
            let listed = try await client.send(.get, "/v1/orders/\(order)/payments", token: customer)
            let states = (listed.json?["payments"] as? [JSONObject])?.map { "\($0["state"]!) \($0["failure"] ?? "")" }
            #expect(states == ["failed provider_unavailable", "authorized "], "\(listed.text)")
            // The reactor finds the first hold and voids it.
            #expect(
                await eventually {
                    fake.snapshot.holds.values.map(\.state).sorted { $0.rawValue < $1.rawValue } == [
                        .authorized, .voided,
                    ]
                },
                "\(fake.snapshot.holds)")
            #expect(try await client.act("accept", order, owner, #"{"prepMinutes":10}"#).status == .ok)

            // 2. Capture keeps failing (5xx): the reactor backs off, gives up after payment-max-attempts, and the
            // operator sees a dead letter, an alert and the metric; meanwhile a cash order's cash is posted.
            let capture = "capture-\(payment)"
            fake.setPlan { _, key, _ in key == capture ? .serverError : nil }
            try await DispatchTests.onShiftAndOnline(h.store, "a-1")  // operators assign only to such agents
            #expect(try await client.act("assign", order, op, #"{"agent":"a-1"}"#).status == .ok)
            #expect(try await client.act("pickup", order, agent).status == .ok)
            #expect(try await client.act("deliver", order, agent).status == .ok)
            let cash = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "cod"))
            #expect(try await client.act("accept", cash, owner, #"{"prepMinutes":10}"#).status == .ok)
            #expect(try await client.act("assign", cash, op, #"{"agent":"a-1"}"#).status == .ok)
            #expect(try await client.act("pickup", cash, agent).status == .ok)
            #expect(try await client.act("deliver", cash, agent, #"{"cashCollected":63000}"#).status == .ok)
            var letters: [JSONObject] = []
            let listedDead = await eventually {
                let r = try? await client.send(.get, "/v1/payments/dead-letters", token: op)
                letters = r?.json?["deadLetters"] as? [JSONObject] ?? []
                return !letters.isEmpty
            }
            #expect(listedDead)
            let letter = letters.first?["operation"] as? JSONObject
            #expect(letter?["key"] as? String == capture && letter?["attempts"] as? Int == 3, "\(letters)")
            #expect(letters.first?["order"] as? String == order)
            // The cash order went through while the capture kept failing (it is still dead).
            let cashPosted = await eventually {
                let held = try? await client.send(.get, "/v1/ledger/agents/a-1/cash?currency=INR", token: op)
                return held?.json?["held"] as? Int == 63_000
            }
            #expect(cashPosted)
            let alerts = try await client.send(.get, "/v1/alerts", token: op)
            #expect(alerts.text.contains("payment_dead_letter"), "\(alerts.text)")
            // Counted once the reactor has recorded it (just after the dead letter is visible).
            let counted = await eventually {
                let metrics = try? await client.send(.get, "/metrics")
                return metricValue(metrics?.text ?? "", "dabba_payment_dead_letters_total") == 1
            }
            #expect(counted)
            #expect(try await client.send(.get, "/v1/payments/dead-letters", token: customer).status == .forbidden)

            // 3. The provider is back: the operator retries the dead letter; captured once.
            fake.heal()
            #expect(
                try await client.send(.get, "/v1/payments/\(payment)", token: op).json?["state"] as? String
                    == "authorized")
            let retried = try await client.send(.post, "/v1/payments/dead-letters/\(capture)/retry", token: op)
            #expect(retried.status == .ok && retried.json?["state"] as? String == "succeeded", "\(retried.text)")
            let again = try await client.send(.post, "/v1/payments/dead-letters/\(capture)/retry", token: op)
            #expect(again.status == .conflict, "\(again.text)")
            let unknown = try await client.send(.post, "/v1/payments/dead-letters/capture-nothing/retry", token: op)
            #expect(unknown.status == .notFound)
            let captured = try await client.send(.get, "/v1/payments/\(payment)", token: op)
            #expect(captured.json?["state"] as? String == "captured")

            // 4. A refund without an answer is accepted (202, pending, reserved), then finished once by the hub.
            let refundOnce = Once()
            fake.setPlan { call, _, _ in call == .refund && refundOnce.first("refund") ? .timeoutBeforeActing : nil }
            let refund = try await client.send(
                .post, "/v1/payments/\(payment)/refunds", token: op, json: #"{"amount":5000}"#,
                headers: Self.key("refund-1"))
            #expect(refund.status == .accepted, "\(refund.text)")
            #expect((refund.json?["refund"] as? JSONObject)?["state"] as? String == "pending")
            #expect((refund.json?["payment"] as? JSONObject)?["refundPending"] as? Int == 5_000)
            let replay = try await client.send(
                .post, "/v1/payments/\(payment)/refunds", token: op, json: #"{"amount":5000}"#,
                headers: Self.key("refund-1"))
            #expect(replay.status == .accepted && replay.text == refund.text, "a retry replays, no second refund")
            let finished = await eventually {
                let r = try? await client.send(.get, "/v1/payments/\(payment)", token: op)
                return (r?.json?["refunds"] as? [JSONObject])?.first?["state"] as? String == "succeeded"
                    && r?.json?["refunded"] as? Int == 5_000
            }
            #expect(finished)

            let books = fake.snapshot
            #expect(books.violations == [])
            #expect(Dictionary(grouping: books.effects, by: \.key).values.allSatisfy { $0.count == 1 })
            #expect(books.effects.filter { $0.call == .capture }.count == 1)
            #expect(books.effects.filter { $0.call == .refund }.map(\.amount) == [5_000])
            #expect(try LedgerAudit.problems(path: h.configuration.sqlitePath!) == [])
            _ = hub
        }
    }

    @Test func aHubThatTakesCashOnlyRunsWithoutAProviderAndRefusesCardOrders() async throws {
        let h = try HubHarness(["payment-provider": "", "payment-methods": "cod"])
        defer { h.close() }
        _ = try await OrderFixture.make(h)
        try await h.run { client, hub in
            #expect(hub.paymentProviders.all.isEmpty)
            let customer = try await client.login("a@example.com").0
            let card = try await client.send(
                .post, "/v1/orders", token: customer, json: OrderFixture.orderJSON(method: "card"))
            #expect(card.status == .unprocessableContent && card.text.contains("payment-methods"), "\(card.text)")
            _ = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "cod"))
        }
    }

    @Test func aHubWithCardPaymentsAndNoProviderDoesNotStart() async throws {
        let h = try HubHarness(["payment-provider": ""])
        defer { h.close() }
        do {
            _ = try await HubComponents.make(configuration: h.configuration, store: h.store, logger: h.logger)
            Issue.record("the hub started without a payment provider")
        } catch let error as ConfigError {
            #expect(error.key == "payment-provider")
            #expect(
                error.message.contains("card payments are enabled") && error.message.contains("payment-methods=cod"))
        }
    }
}
