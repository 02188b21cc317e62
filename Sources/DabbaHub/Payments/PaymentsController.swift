import DabbaCore
import DabbaProtocol
import Foundation
import HTTPTypes
import HubModel
import Hummingbird

/// Payments (`/v1/orders/{id}/payments`, `/v1/payments/…`), provider webhooks, and the operators' ledger
/// (`/v1/ledger/…`). Customers see only their own payments (anyone else's id is 404, like an unknown one);
/// capture, refunds, ledger reads and hand-ins are for operators. Every POST that moves money needs an
/// `Idempotency-Key` (see ``IdempotentRequest``).
struct PaymentsController<
    Store: PaymentRepository & OrderRepository & RestaurantDirectory & AgentRepository & PaymentGate
> {
    let payments: PaymentService<Store>
    /// How long idempotency keys are remembered (ms).
    let idempotencyTTL: Int64
    var store: Store { payments.store }

    typealias AuthorizeRequest = PaymentRequests.Authorize
    typealias RefundRequest = PaymentRequests.Refund
    typealias HandInRequest = PaymentRequests.HandIn

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        router.group("v1/orders", access: .roles([.customer])).post(":id/payments", use: authorize)
        router.group("v1/orders", access: .roles([.customer, .operator])).get(":id/payments", use: orderPayments)
        router.group("v1/payments", access: .public).post("webhooks/:provider", use: providerWebhook)
        let readers = router.group("v1/payments", access: .roles([.customer, .operator]))
        readers.get(":id", use: show)
        let operators = router.group("v1/payments", access: .roles([.operator]))
        operators.post(":id/capture", use: capture)
        operators.post(":id/refunds", use: refund)
        operators.get("dead-letters", use: deadLetters)
        operators.post("dead-letters/:key/retry", use: retryDeadLetter)
        let ledger = router.group("v1/ledger", access: .roles([.operator]))
        ledger.get("balances", use: balances)
        ledger.get("statement", use: statement)
        ledger.get("reconciliation", use: reconciliation)
        ledger.post("cash-handins", use: handIn)
        ledger.get("agents/:id/cash", use: agentCash)
    }

    // MARK: - Payments

    @Sendable func authorize(_ request: Request, context: HubRequestContext) async throws -> Response {
        let caller = try context.caller()
        let orderID = try context.parameters.require("id")
        let call = try await IdempotentRequest(request, context, store: store, ttl: idempotencyTTL)
        let input = try call.decode(AuthorizeRequest.self)
        return try await call.run { () async throws -> (HTTPResponse.Status, PaymentView) in
            do {
                let payment = try await payments.authorize(order: orderID, cardNumber: input.card, by: caller)
                return (.created, PaymentView(payment))
            } catch let error as PaymentServiceError { throw APIError(error) }
        }
    }

    @Sendable func orderPayments(_ request: Request, context: HubRequestContext) async throws -> PaymentList {
        let caller = try context.caller()
        let orderID = try context.parameters.require("id")
        guard let order = try await store.order(id: orderID),
            caller.role == .operator || order.customerID == caller.userID
        else { throw APIError.notFound("no order \(orderID)") }
        var views: [PaymentView] = []
        for p in try await store.payments(order: order.id) {
            views.append(PaymentView(p, refunds: try await store.refunds(payment: p.id)))
        }
        return PaymentList(payments: views)
    }

    @Sendable func show(_ request: Request, context: HubRequestContext) async throws -> PaymentView {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        guard let payment = try await payments.visiblePayment(id, to: caller) else {
            throw APIError.notFound("no payment \(id)")
        }
        return PaymentView(payment, refunds: try await store.refunds(payment: id))
    }

    @Sendable func capture(_ request: Request, context: HubRequestContext) async throws -> Response {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        let call = try await IdempotentRequest(request, context, store: store, ttl: idempotencyTTL)
        return try await call.run { () async throws -> (HTTPResponse.Status, PaymentView) in
            do {
                // 202: the provider has not confirmed yet; the hub finishes the capture by itself.
                let (payment, settled) = try await payments.capture(id, by: caller)
                return (settled ? .ok : .accepted, PaymentView(payment, refunds: try await store.refunds(payment: id)))
            } catch let error as PaymentServiceError { throw APIError(error) }
        }
    }

    @Sendable func refund(_ request: Request, context: HubRequestContext) async throws -> Response {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        let call = try await IdempotentRequest(request, context, store: store, ttl: idempotencyTTL)
        let input = try call.decode(RefundRequest.self)
        try PaymentRequests.checkNote(input.reason, field: "reason")
        return try await call.run { () async throws -> (HTTPResponse.Status, RefundResult) in
            try PaymentRequests.checkRefundAmount(input.amount)
            do {
                // 202: the refund is reserved and sent; the provider has not confirmed yet (it stays pending, never
                // failed, until the hub knows).
                let (payment, refund, settled) = try await payments.refund(
                    id, amount: input.amount, reason: input.reason, by: caller)
                return (
                    settled ? .created : .accepted,
                    RefundResult(
                        refund: .init(refund),
                        payment: PaymentView(payment, refunds: try await store.refunds(payment: id)))
                )
            } catch let error as PaymentServiceError { throw APIError(error) }
        }
    }

    /// `GET /v1/payments/dead-letters`: provider operations given up after `payment-max-attempts` (or refused where
    /// an operator must decide), oldest first.
    @Sendable func deadLetters(_ request: Request, context: HubRequestContext) async throws -> DeadLetterList {
        DeadLetterList(deadLetters: try await payments.deadLetters().map(DeadLetterView.init))
    }

    /// `POST /v1/payments/dead-letters/{key}/retry`: pending again with fresh attempts and tried at once (an unknown
    /// outcome is asked about first); answers the operation after that attempt. 404 unknown key, 409 not dead.
    @Sendable func retryDeadLetter(_ request: Request, context: HubRequestContext) async throws -> Response {
        let key = try context.parameters.require("key")
        let call = try await IdempotentRequest(
            request, context, store: store, ttl: idempotencyTTL, keyRequired: false)
        return try await call.run { () async throws -> (HTTPResponse.Status, PaymentOperationView) in
            do {
                return (.ok, PaymentOperationView(try await payments.retryDeadLetter(key: key)))
            } catch let error as PaymentServiceError { throw APIError(error) }
        }
    }

    /// `POST /v1/payments/webhooks/{provider}`: verified (signature, 5-minute tolerance), applied once per event id.
    /// 200 for applied, duplicate and ignored events; 400 for a bad signature, stale timestamp or body; 404 when the
    /// payment is not known (yet: the provider retries).
    @Sendable func providerWebhook(_ request: Request, context: HubRequestContext) async throws -> ProviderWebhookResult
    {
        let provider = try context.parameters.require("provider")
        var request = request
        let body = Array(buffer: try await request.collectBody(upTo: context.maxUploadSize))
        do {
            let (event, outcome) = try await payments.providerWebhook(
                provider: provider, signature: request.headers[HTTPField.Name(WebhookSignature.header)!], body: body,
                now: wallClockMilliseconds() / 1000)
            context.logger.info(
                "Provider event",
                metadata: [
                    "payment.provider": "\(provider)", "payment.event": "\(event.id)",
                    "payment.outcome": "\(outcome.rawValue)",
                ])
            return ProviderWebhookResult(event: event.id, outcome: outcome)
        } catch {
            if case .invalid(let message) = error { throw APIError.badRequest(message) }
            throw APIError(error)
        }
    }

    // MARK: - Ledger

    @Sendable func balances(_ request: Request, context: HubRequestContext) async throws -> BalanceList {
        let prefix = request.uri.queryParameters.get("prefix")
        let accounts = try await store.ledgerBalances(prefix: prefix)
        var totals: [String: BalanceTotal] = [:]
        for a in accounts {
            totals[a.currency, default: BalanceTotal(currency: a.currency, debits: 0, credits: 0)].debits += a.debits
            totals[a.currency, default: BalanceTotal(currency: a.currency, debits: 0, credits: 0)].credits += a.credits
        }
        return BalanceList(
            accounts: accounts.map(BalanceView.init), totals: totals.keys.sorted().compactMap { totals[$0] })
    }

    @Sendable func statement(_ request: Request, context: HubRequestContext) async throws -> Statement {
        let query = request.uri.queryParameters
        guard let account = query.get("account"), !account.isEmpty else {
            throw APIError.badRequest("account: required, e.g. agent:a-1:cash")
        }
        let currency = try PaymentRequests.currency(query.get("currency"))
        let request = try PageRequest(
            query, limit: 1...200, default: 50, cursorName: "before", decode: ListingCursor.statementBefore)
        let page = try await request.read {
            try await store.ledgerStatement(account: account, currency: currency, before: $0, limit: $1)
        }
        let totals = try await store.ledgerBalances(prefix: account).first {
            $0.account == account && $0.currency == currency
        }
        return Statement(
            account: account, currency: currency, debits: totals?.debits ?? 0, credits: totals?.credits ?? 0,
            balance: totals?.balance ?? 0, entries: page.rows.map(StatementLine.init), next: page.next(\.id))
    }

    @Sendable func reconciliation(_ request: Request, context: HubRequestContext) async throws -> Reconciliation {
        let query = request.uri.queryParameters
        let date = query.get("date") ?? String(Timestamp.format(milliseconds: wallClockMilliseconds()).prefix(10))
        guard PaymentRequests.isDate(date) else { throw APIError.badRequest("date: expected YYYY-MM-DD (UTC)") }
        return Reconciliation(
            date: date, agents: try await store.cashReconciliation(day: date, agent: query.get("agent")))
    }

    @Sendable func handIn(_ request: Request, context: HubRequestContext) async throws -> Response {
        let caller = try context.caller()
        let call = try await IdempotentRequest(request, context, store: store, ttl: idempotencyTTL)
        let input = try call.decode(HandInRequest.self)
        try PaymentRequests.checkNote(input.note, field: "note")
        return try await call.run { () async throws -> (HTTPResponse.Status, HandInView) in
            do {
                let h = try await payments.handIn(
                    agent: input.agent, amount: input.amount, currency: input.currency, note: input.note, by: caller)
                return (
                    .created,
                    HandInView(
                        id: h.id, agent: h.agent, currency: h.currency, amount: h.amount, note: h.note,
                        time: Timestamp.format(milliseconds: h.time),
                        heldNow: try await store.agentCashHeld(agent: h.agent, currency: h.currency))
                )
            } catch let error as PaymentServiceError { throw APIError(error) }
        }
    }

    /// `GET /v1/ledger/agents/{id}/cash?currency=INR&amount=…`: the cash an agent holds against `cod-cash-limit`.
    @Sendable func agentCash(_ request: Request, context: HubRequestContext) async throws -> AgentCashView {
        let agent = try context.parameters.require("id")
        let query = request.uri.queryParameters
        let currency = try PaymentRequests.currency(query.get("currency"))
        let amount = try PaymentRequests.cashAmount(query.get("amount"))
        guard try await store.agent(id: agent) != nil else { throw APIError.notFound("no agent \(agent)") }
        return AgentCashView(
            agent: agent, currency: currency, held: try await store.agentCashHeld(agent: agent, currency: currency),
            limit: payments.cashLimit,
            mayTakeCashOrders: try await payments.mayOfferCashOrder(agent: agent, amount: amount, currency: currency))
    }
}
