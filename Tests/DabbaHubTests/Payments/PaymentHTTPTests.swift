import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
import HummingbirdTesting
import NIOCore
import Testing

@testable import DabbaHub

/// Payments through the application: idempotency under concurrency, refunds under concurrency, provider webhooks,
/// cash on delivery end to end.
@Suite(.serialized) struct PaymentHTTPTests {
    static let card = #"{"card":"4242424242424242"}"#

    static func key(_ value: String) -> HTTPFields { [HTTPField.Name("Idempotency-Key")!: value] }

    static func provider(_ hub: HubComponents) throws -> TestPaymentProvider {
        try #require(hub.paymentProviders["test"] as? TestPaymentProvider)
    }

    @Test func oneIdempotencyKeyHundredConcurrentRequestsOneCharge() async throws {
        let h = try HubHarness()
        defer { h.close() }
        _ = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let customer = try await client.login("a@example.com").0
            let order = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "card"))
            let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        let r = try await client.send(
                            .post, "/v1/orders/\(order)/payments", token: customer, json: Self.card,
                            headers: Self.key("pay-once"))
                        return (Int(r.status.code), r.text)
                    }
                }
                var all: [(Int, String)] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            #expect(answers.allSatisfy { $0.0 == 201 || $0.0 == 409 }, "\(answers.map(\.0))")
            let created = answers.filter { $0.0 == 201 }
            #expect(!created.isEmpty && Set(created.map(\.1)).count == 1, "every 201 is the one stored answer")
            let payments = try await h.store.payments(order: order)
            #expect(payments.count == 1 && payments.first?.state == .authorized)
            let authorizations = try await h.store.ledgerEntries(after: 0, limit: 10_000).filter {
                $0.kind == "authorize"
            }
            #expect(authorizations.count == 2, "one authorize posting (two legs)")
            // The same key with another body is 422; a later retry with the same body replays.
            let other = try await client.send(
                .post, "/v1/orders/\(order)/payments", token: customer, json: #"{"card":"4000000000000002"}"#,
                headers: Self.key("pay-once"))
            #expect(other.status == .unprocessableContent && other.errorCode == "invalid", "\(other.text)")
            let replay = try await client.send(
                .post, "/v1/orders/\(order)/payments", token: customer, json: Self.card, headers: Self.key("pay-once"))
            #expect(replay.status == .created && replay.text == created.first?.1)
            #expect(replay.headers[HTTPField.Name("Idempotency-Replayed")!] == "true")
            let missing = try await client.send(.post, "/v1/orders/\(order)/payments", token: customer, json: Self.card)
            #expect(missing.status == .badRequest && missing.errorCode == "bad_request")
        }
    }

    @Test func hundredConcurrentPartialRefundsNeverExceedTheCapture() async throws {
        let h = try HubHarness()
        defer { h.close() }
        _ = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let customer = try await client.login("a@example.com").0
            let op = try await client.login("op@example.com").0
            let order = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "card"))
            let authorized = try await client.send(
                .post, "/v1/orders/\(order)/payments", token: customer, json: Self.card, headers: Self.key("a"))
            let id = try #require(authorized.json?["id"] as? String)
            let total = try #require(authorized.json?["amount"] as? Int)
            #expect(total == 63_000)
            let capture = try await client.send(.post, "/v1/payments/\(id)/capture", token: op, headers: Self.key("c"))
            #expect(capture.status == .ok && capture.json?["state"] as? String == "captured", "\(capture.text)")
            let part = total / 50  // 100 refunds of 1/50: twice the capture
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        Int(
                            try await client.send(
                                .post, "/v1/payments/\(id)/refunds", token: op, json: #"{"amount":\#(part)}"#,
                                headers: Self.key("refund-\(i)")
                            ).status.code)
                    }
                }
                var all: [Int] = []
                for try await s in group { all.append(s) }
                return all
            }
            #expect(statuses.filter { $0 == 201 }.count == 50, "\(statuses)")
            #expect(statuses.filter { $0 == 409 }.count == 50, "\(statuses)")
            let shown = try await client.send(.get, "/v1/payments/\(id)", token: customer)
            #expect(shown.json?["refunded"] as? Int == total && shown.json?["state"] as? String == "refunded")
            #expect((shown.json?["refunds"] as? [Any])?.count == 50)
            // Foreign ids are 404 for customers; capture and refunds are for operators.
            let stranger = try await client.login("b@example.com").0
            #expect(try await client.send(.get, "/v1/payments/\(id)", token: stranger).status == .notFound)
            #expect(
                try await client.send(
                    .post, "/v1/payments/\(id)/refunds", token: customer, json: #"{"amount":1}"#, headers: Self.key("x")
                )
                .status == .forbidden)
            #expect(try LedgerAudit.problems(path: h.configuration.sqlitePath!) == [])
        }
    }

    @Test func providerWebhooksAreVerifiedAppliedOnceAndInOrder() async throws {
        let h = try HubHarness()
        defer { h.close() }
        _ = try await OrderFixture.make(h)
        try await h.run { client, hub in
            let provider = try Self.provider(hub)
            let customer = try await client.login("a@example.com").0
            let owner = try await client.login("owner@example.com").0
            let order = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "card"))
            let pending = try await client.send(
                .post, "/v1/orders/\(order)/payments", token: customer,
                json: #"{"card":"\#(TestPaymentProvider.requiresVerification)"}"#, headers: Self.key("v"))
            #expect(pending.json?["state"] as? String == "requires_payment")
            #expect(pending.json?["nextAction"] as? String == "await_verification")
            let id = try #require(pending.json?["id"] as? String)
            let reference = try #require(try await h.store.payment(id: id)?.providerRef)
            // Not confirmable yet.
            let early = try await client.act("accept", order, owner, #"{"prepMinutes":10}"#)
            #expect(early.status == .conflict && early.text.contains("not authorized"), "\(early.text)")

            func send(_ event: ProviderEvent, age: Int64 = 0, secret: String? = nil, provider name: String = "test")
                async throws -> TestResponse
            {
                let signer = secret.map { TestPaymentProvider(webhookSecret: $0) } ?? provider
                let (signature, body) = signer.signedWebhook(event, timestamp: wallClockMilliseconds() / 1000 - age)
                return try await client.execute(
                    uri: "/v1/payments/webhooks/\(name)", method: .post,
                    headers: [HTTPField.Name(WebhookSignature.header)!: signature, .contentType: "application/json"],
                    body: ByteBuffer(bytes: body))
            }
            let authorized = ProviderEvent(id: "evt_2", type: .authorized, payment: reference, sequence: 2)
            // Bad signature, stale timestamp, no signature: 400, nothing recorded.
            let forged = try await send(authorized, secret: "not-the-secret-at-all")
            #expect(forged.status == .badRequest && forged.errorCode == "bad_request", "\(forged.text)")
            let stale = try await send(authorized, age: 301)
            #expect(stale.status == .badRequest && stale.text.contains("tolerance"), "\(stale.text)")
            let unsigned = try await client.send(.post, "/v1/payments/webhooks/test", json: "{}")
            #expect(unsigned.status == .badRequest)
            #expect(try await h.store.payment(id: id)?.state == .requiresPayment)
            #expect(try await send(authorized, provider: "nobody").status == .notFound)
            let unknown = try await send(ProviderEvent(id: "evt_x", type: .authorized, payment: "tp_none", sequence: 1))
            #expect(unknown.status == .notFound)

            // Within tolerance (4 minutes old), out of order: sequence 2 first, then the older 1 is ignored.
            let applied = try await send(authorized, age: 240)
            #expect(applied.status == .ok && applied.json?["outcome"] as? String == "applied", "\(applied.text)")
            let older = try await send(ProviderEvent(id: "evt_1", type: .processing, payment: reference, sequence: 1))
            #expect(older.json?["outcome"] as? String == "ignored")
            // Replayed: applied once only.
            let replayed = try await send(authorized)
            #expect(replayed.status == .ok && replayed.json?["outcome"] as? String == "duplicate")
            // A later failure does not undo an authorization.
            let late = try await send(ProviderEvent(id: "evt_3", type: .failed, payment: reference, sequence: 3))
            #expect(late.json?["outcome"] as? String == "ignored")
            let payment = try #require(try await h.store.payment(id: id))
            #expect(payment.state == .authorized && payment.providerSeq == 3)
            let authorizeLegs = try await h.store.ledgerEntries(after: 0, limit: 1000).filter { $0.kind == "authorize" }
            #expect(authorizeLegs.count == 2)
            // Now the restaurant may confirm.
            #expect(try await client.act("accept", order, owner, #"{"prepMinutes":10}"#).status == .ok)
        }
    }

    @Test func cashOnDeliveryDeliveredOverRESTShowsInThatDaysReconciliation() async throws {
        // The REST path (an agent without the device). The device path (`dabba-agent deliver --cash-collected`)
        // is tested end to end in DeviceDispatchEndToEndTests.
        let h = try HubHarness(["payment-poll-interval": "0.05"])
        defer { h.close() }
        _ = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let customer = try await client.login("a@example.com").0
            let owner = try await client.login("owner@example.com").0
            let op = try await client.login("op@example.com").0
            let agent = try await client.login("ravi@example.com").0
            let order = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "cod"))
            #expect(try await client.act("accept", order, owner, #"{"prepMinutes":10}"#).status == .ok)
            try await DispatchTests.onShiftAndOnline(h.store, "a-1")  // operators assign only to such agents
            #expect(try await client.act("assign", order, op, #"{"agent":"a-1"}"#).status == .ok)
            #expect(try await client.act("pickup", order, agent).status == .ok)
            let wrong = try await client.act("pickup", order, agent, #"{"cashCollected":100}"#)
            #expect(wrong.status == .unprocessableContent)
            let delivered = try await client.act("deliver", order, agent, #"{"cashCollected":62000}"#)
            #expect(delivered.status == .ok, "\(delivered.text)")
            let events = try await client.send(.get, "/v1/orders/\(order)/events", token: customer)
            let last = (events.json?["events"] as? [JSONObject])?.last
            #expect(last?["cashCollected"] as? Int == 62_000)

            let today = String(Timestamp.format(milliseconds: wallClockMilliseconds()).prefix(10))
            var row: JSONObject?
            let shown = await eventually {
                let r = try? await client.send(.get, "/v1/ledger/reconciliation?date=\(today)", token: op)
                row = (r?.json?["agents"] as? [JSONObject])?.first { $0["agent"] as? String == "a-1" }
                return row != nil
            }
            #expect(shown)
            #expect(row?["expected"] as? Int == 63_000 && row?["collected"] as? Int == 62_000)
            #expect(row?["collectionDifference"] as? Int == -1_000 && row?["flagged"] as? Bool == true)
            #expect(row?["heldNow"] as? Int == 62_000 && row?["orders"] as? Int == 1)

            let handIn = try await client.send(
                .post, "/v1/ledger/cash-handins", token: op, json: #"{"agent":"a-1","amount":62000,"currency":"INR"}"#,
                headers: Self.key("hand-1"))
            #expect(handIn.status == .created && handIn.json?["heldNow"] as? Int == 0, "\(handIn.text)")
            let again = try await client.send(
                .post, "/v1/ledger/cash-handins", token: op, json: #"{"agent":"a-1","amount":62000,"currency":"INR"}"#,
                headers: Self.key("hand-1"))
            #expect(again.status == .created && again.text == handIn.text, "a retry replays, no second hand-in")
            let after = try await client.send(.get, "/v1/ledger/reconciliation?date=\(today)&agent=a-1", token: op)
            let final = (after.json?["agents"] as? [JSONObject])?.first
            #expect(final?["handedIn"] as? Int == 62_000 && final?["heldNow"] as? Int == 0)
            #expect(final?["handInDifference"] as? Int == 0)
            let cash = try await client.send(.get, "/v1/ledger/agents/a-1/cash?currency=INR&amount=63000", token: op)
            #expect(cash.json?["held"] as? Int == 0 && cash.json?["mayTakeCashOrders"] as? Bool == true)
            let statement = try await client.send(
                .get, "/v1/ledger/statement?account=agent:a-1:cash&currency=INR", token: op)
            #expect((statement.json?["entries"] as? [Any])?.count == 2 && statement.json?["balance"] as? Int == 0)
            let balances = try await client.send(.get, "/v1/ledger/balances", token: op)
            let totals = (balances.json?["totals"] as? [JSONObject])?.first
            #expect(totals?["debits"] as? Int == totals?["credits"] as? Int)
            #expect(try LedgerAudit.problems(path: h.configuration.sqlitePath!) == [])
        }
    }

    @Test func aCardOrderIsCapturedWhenDeliveredAndVoidedWhenCancelled() async throws {
        let h = try HubHarness(["payment-poll-interval": "0.05"])
        defer { h.close() }
        _ = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let customer = try await client.login("a@example.com").0
            let owner = try await client.login("owner@example.com").0
            let op = try await client.login("op@example.com").0
            let agent = try await client.login("ravi@example.com").0
            let delivered = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "card"))
            let cancelled = try await client.placeOrder(customer, json: OrderFixture.orderJSON(method: "card"))
            var ids: [String] = []
            for (i, order) in [delivered, cancelled].enumerated() {
                let r = try await client.send(
                    .post, "/v1/orders/\(order)/payments", token: customer, json: Self.card, headers: Self.key("k\(i)"))
                ids.append(try #require(r.json?["id"] as? String))
                #expect(try await client.act("accept", order, owner, #"{"prepMinutes":10}"#).status == .ok)
            }
            try await DispatchTests.onShiftAndOnline(h.store, "a-1")  // operators assign only to such agents
            #expect(try await client.act("assign", delivered, op, #"{"agent":"a-1"}"#).status == .ok)
            #expect(try await client.act("pickup", delivered, agent).status == .ok)
            #expect(try await client.act("deliver", delivered, agent).status == .ok)
            #expect(try await client.act("cancel", cancelled, owner, #"{"reason":"out of dosa"}"#).status == .ok)
            let settled = await eventually {
                let a = try? await h.store.payment(id: ids[0])
                let b = try? await h.store.payment(id: ids[1])
                return a?.state == .captured && b?.state == .cancelled
            }
            #expect(settled)
            let listed = try await client.send(.get, "/v1/orders/\(delivered)/payments", token: customer)
            #expect((listed.json?["payments"] as? [JSONObject])?.first?["state"] as? String == "captured")
            #expect(try LedgerAudit.problems(path: h.configuration.sqlitePath!) == [])
        }
    }
}
