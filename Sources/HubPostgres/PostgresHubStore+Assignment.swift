import DabbaCore
import DabbaProtocol
import HubModel
import PostgresNIO

/// Offers, accepts, operators' assignments and unassignments, each one READ COMMITTED transaction that locks the
/// order's row and then the agent's (`SELECT … FOR UPDATE`, always in that order) before it checks
/// ``AssignmentLimits`` and writes. Every path that adds to an agent's load (an offer, an accept, an assignment)
/// holds the agent's row lock while it counts the load and writes, so two of them — two hubs' dispatch rounds, an
/// operator and a round — never both pass a check that only one of them may pass: the second counts what the first
/// committed, as under SQLite's `BEGIN IMMEDIATE`. The order's lock orders them with the order's own changes
/// (``changeOrder(_:_:on:)``): an offer is never made on an order cancelled meanwhile. `offers_one_pending` (one
/// pending offer per order) stays as a backstop.
extension PostgresHubStore {
    package func createOffer(_ offer: Offer, limits: AssignmentLimits) async throws(StoreError) -> OfferOutcome {
        try await transaction { connection -> OfferOutcome in
            try await makeOffer(offer, limits: limits, on: connection)
        }
    }

    /// One transaction per offer, each as ``createOffer(_:limits:)``'s with the decision's `INSERT` in it: a
    /// transaction holding many orders' and agents' row locks would deadlock with an operator's assignment, which
    /// locks one order and then its agent.
    package func createOffers(_ requests: [OfferRequest], limits: AssignmentLimits) async throws(StoreError)
        -> [OfferOutcome]
    {
        var outcomes: [OfferOutcome] = []
        outcomes.reserveCapacity(requests.count)
        for request in requests {
            let candidates = try request.decision.encodedCandidates()
            outcomes.append(
                try await transaction { connection -> OfferOutcome in
                    let outcome = try await makeOffer(request.offer, limits: limits, on: connection)
                    if case .offered = outcome {
                        try await insertDecision(request.decision, candidates: candidates, on: connection)
                    }
                    return outcome
                })
        }
        return outcomes
    }

    /// ``createOffer(_:limits:)``'s locks, checks and insert, inside the caller's transaction.
    func makeOffer(_ offer: Offer, limits: AssignmentLimits, on connection: PostgresSession) async throws
        -> OfferOutcome
    {
        guard let order = try await readOrder(id: offer.order, forUpdate: true, on: connection) else {
            return .refused(.unknownOrder(offer.order))
        }
        guard order.agentID == nil, OrderStatus.waitingForAgent.contains(order.status) else {
            return .refused(.notWaiting(order: order.id, status: order.status, agent: order.agentID))
        }
        if let other = try await pendingOfferAgent(order: order.id, on: connection) {
            return .refused(.alreadyOffered(order: order.id, agent: other))
        }
        let excluded = try await connection.rows(
            """
            SELECT 1 FROM offers WHERE order_id = \(order.id) AND agent_id = \(offer.agent)
              AND \(unescaped: Self.excludingOffer) LIMIT 1
            """, logger)
        if !excluded.isEmpty { return .refused(.excluded(agent: offer.agent, order: order.id)) }
        if let refusal = try await assignmentRefusal(
            agent: offer.agent, for: order, limits: limits, sameRestaurant: true, on: connection)
        {
            return .refused(refusal)
        }
        let id = try await connection.scalar(
            Int64.self,
            """
            INSERT INTO offers(order_id, agent_id, created, deadline, state)
            VALUES(\(offer.order), \(offer.agent), \(offer.created), \(offer.deadline), 'pending') RETURNING id
            """, logger)
        var stored = offer
        stored.id = id ?? 0
        stored.state = .pending
        return .offered(stored)
    }

    package func acceptOffer(order id: String, agent: String, actor: String, limits: AssignmentLimits, now: Int64)
        async throws(StoreError) -> AssignmentOutcome
    {
        try await transaction { connection -> AssignmentOutcome in
            let order = try await readOrder(id: id, forUpdate: true, on: connection)
            guard
                let pending = try await readOffers(
                    "WHERE order_id = \(id) AND agent_id = \(agent) AND state = 'pending'", on: connection
                ).first
            else { return .refused(.noPendingOffer(order: id, agent: agent)) }
            guard now < pending.deadline else {
                return .refused(.lapsed(order: id, agent: agent, deadline: pending.deadline))
            }
            guard let order else { return .refused(.unknownOrder(id)) }
            guard order.agentID == nil, OrderStatus.waitingForAgent.contains(order.status) else {
                return .refused(.notWaiting(order: id, status: order.status, agent: order.agentID))
            }
            if let refusal = try await assignmentRefusal(
                agent: agent, for: order, limits: limits, sameRestaurant: false, on: connection)
            {
                return .refused(refusal)
            }
            _ = try await closePending(order: id, agent: agent, state: .accepted, reason: nil, on: connection)
            let (assigned, event) = try await assign(order: id, agent: agent, actor: actor, reason: nil, on: connection)
            return .assigned(assigned, event, withdrawn: [])
        }
    }

    package func assignOrder(
        order id: String, agent: String, actor: String, reason: String?, limits: AssignmentLimits
    ) async throws(StoreError) -> AssignmentOutcome {
        try await transaction { connection -> AssignmentOutcome in
            guard let order = try await readOrder(id: id, forUpdate: true, on: connection) else {
                return .refused(.unknownOrder(id))
            }
            guard order.agentID == nil, OrderStatus.waitingForAgent.contains(order.status) else {
                return .refused(.illegal(OrderTransitionError(current: order.status, action: .assign)))
            }
            if let refusal = try await assignmentRefusal(
                agent: agent, for: order, limits: limits, sameRestaurant: false, on: connection)
            {
                return .refused(refusal)
            }
            // The order's pending offer (to this agent or another) ends with the assignment.
            var withdrawn: [Offer] = []
            if let offered = try await pendingOfferAgent(order: id, on: connection),
                let closed = try await closePending(
                    order: id, agent: offered, state: .withdrawn, reason: "assigned to \(agent) by \(actor)",
                    on: connection)
            {
                withdrawn.append(closed)
            }
            let (assigned, event) = try await assign(
                order: id, agent: agent, actor: actor, reason: reason, on: connection)
            return .assigned(assigned, event, withdrawn: withdrawn)
        }
    }

    /// One READ COMMITTED transaction with the order's row locked: the unassignment and (with `excludeAgent`) the
    /// agent's rejected offer row commit together.
    package func unassignOrder(order id: String, actor: String, reason: String?, excludeAgent: Bool)
        async throws(StoreError) -> (OrderRecord, OrderEvent)
    {
        try await transaction { connection -> OrderChangeOutcome in
            guard let order = try await readOrder(id: id, forUpdate: true, on: connection) else { return .notFound }
            let outcome = try await changeOrder(
                OrderChange(action: .unassign, actor: actor, reason: reason, allowedFrom: [.assigned]), id,
                on: connection)
            if case .changed = outcome, excludeAgent, let agent = order.agentID {
                try await insertGiveBack(
                    order: id, agent: agent, time: wallClockMilliseconds(), reason: reason ?? actor, on: connection)
            }
            return outcome
        }.get(id)
    }

    /// Reads at READ COMMITTED without locks: an answer for display and a round's first sift; the transactions
    /// that assign check it again under the agent's lock.
    package func cashExposure(agent: String, currency: String) async throws(StoreError) -> Int64 {
        try await run { connection in
            let held = try await heldOrders(agent: agent, excluding: "", on: connection)
            return try await exposure(agent: agent, currency: currency, held: held, on: connection)
        }
    }

    /// Four `SELECT`s (agents' cash accounts, cash delivered but not posted, cash orders carried, cash orders on
    /// offer), summed per agent with checked arithmetic: a total past Int64 saturates at `Int64.max`, which no
    /// limit admits.
    package func cashExposures(currency: String) async throws(StoreError) -> [String: Int64] {
        try await run { connection -> [String: Int64] in
            var exposures: [String: Int64] = [:]
            func add(_ agent: String, _ amount: Int64) {
                exposures[agent] = Checked.add(exposures[agent, default: 0], amount) ?? Int64.max
            }
            // The ledger's agent cash accounts, whatever their names' exact shape: `agent:{id}:cash` today.
            let template = LedgerAccount.agentCash("\u{0}")
            let head = String(template.prefix { $0 != "\u{0}" })
            let tail = String(template.drop { $0 != "\u{0}" }.dropFirst())
            for row in try await connection.rows(
                """
                SELECT name, debits, credits FROM ledger_accounts
                WHERE starts_with(name, \(head)) AND currency = \(currency)
                """, logger)
            {
                let (name, debits, credits) = try row.decode((String, Int64, Int64).self)
                guard name.hasSuffix(tail), name.count > head.count + tail.count else { continue }
                add(String(name.dropFirst(head.count).dropLast(tail.count)), Checked.subtract(debits, credits) ?? .max)
            }
            for query: PostgresQuery in [
                """
                SELECT agent_id, \(unescaped: Self.saturatedSum("amount")) FROM cod_unposted
                WHERE currency = \(currency) GROUP BY agent_id
                """,
                """
                SELECT agent_id, \(unescaped: Self.saturatedSum("total")) FROM orders
                WHERE status IN ('assigned', 'picked_up') AND payment_method = 'cod' AND currency = \(currency)
                  AND agent_id IS NOT NULL
                GROUP BY agent_id
                """,
                """
                SELECT f.agent_id, \(unescaped: Self.saturatedSum("o.total")) FROM offers f
                JOIN orders o ON o.id = f.order_id
                WHERE f.state = 'pending' AND o.payment_method = 'cod' AND o.currency = \(currency)
                GROUP BY f.agent_id
                """,
            ] {
                for row in try await connection.rows(query, logger) {
                    let (agent, amount) = try row.decode((String, Int64).self)
                    add(agent, amount)
                }
            }
            return exposures
        }
    }

    /// `sum(column)` (numeric in PostgreSQL) as a BIGINT, saturated at its bounds instead of failing; 0 over no
    /// rows (`least` and `greatest` skip a NULL, so the sum is coalesced first).
    static func saturatedSum(_ column: String) -> String {
        "greatest(least(coalesce(sum(\(column)), 0), 9223372036854775807), -9223372036854775808)::bigint"
    }

    // MARK: - Inside the transaction

    /// The checks of ``AssignmentLimits`` for giving `order` to `agent`; nil when it may have it. Locks the agent's
    /// row first (see the extension's documentation); call inside the transaction that writes the assignment or
    /// offer. `sameRestaurant` (offers): what the agent carries or is offered must come from the order's restaurant.
    func assignmentRefusal(
        agent: String, for order: OrderRecord, limits: AssignmentLimits, sameRestaurant: Bool,
        on connection: PostgresSession
    ) async throws -> AssignmentRefusal? {
        guard
            let row = try await connection.rows(
                "SELECT on_shift, state FROM agents WHERE id = \(agent) FOR UPDATE", logger
            ).first
        else { return .unknownAgent(agent) }
        let (onShift, stored) = try row.decode((Bool, ByteBuffer?).self)
        var online = false
        if let stored {
            do throws(PayloadError) {
                online = try states.state(agent: agent, bytes: Bytea.read(stored)).online
            } catch {
                // As SQLite's: a state that no longer decodes counts as none (offline) until the next one.
                logger.warning("Stored agent state does not decode", metadata: ["agent": "\(agent)"])
            }
        }
        let held = try await heldOrders(agent: agent, excluding: order.id, on: connection)
        let exposure =
            order.paymentMethod == .cod
            ? try await exposure(agent: agent, currency: order.currency, held: held, on: connection) : nil
        return limits.refusal(
            agent: agent, for: order, onShift: onShift, online: online, held: held, sameRestaurant: sameRestaurant,
            exposure: exposure)
    }

    /// What `agent` carries or holds on offer, other than order `excluded`.
    func heldOrders(agent: String, excluding excluded: String, on connection: PostgresSession) async throws
        -> [HeldOrder]
    {
        try await connection.rows(
            """
            SELECT restaurant_id, payment_method, currency, total, false FROM orders
            WHERE agent_id = \(agent) AND status IN ('assigned', 'picked_up') AND id <> \(excluded)
            UNION ALL
            SELECT o.restaurant_id, o.payment_method, o.currency, o.total, true
            FROM offers f JOIN orders o ON o.id = f.order_id
            WHERE f.agent_id = \(agent) AND f.state = 'pending' AND f.order_id <> \(excluded)
            """, logger
        ).map { row in
            let (restaurant, method, currency, total, offered) = try row.decode(
                (String, String, String, Int64, Bool).self)
            return HeldOrder(
                restaurant: restaurant, cash: method == PaymentMethod.cod.rawValue, currency: currency, total: total,
                offered: offered)
        }
    }

    /// The agent's cash exposure in `currency` (``AssignmentLimits``), `held` being what it carries or is offered:
    /// ledger balance + delivered but unposted + due on held cash orders, checked (saturating at `Int64.max`).
    func exposure(agent: String, currency: String, held: [HeldOrder], on connection: PostgresSession)
        async throws -> Int64
    {
        let ledger = try await balance(LedgerAccount.agentCash(agent), currency, on: connection)
        let unposted =
            try await connection.scalar(
                Int64?.self,
                """
                SELECT \(unescaped: Self.saturatedSum("amount")) FROM cod_unposted
                WHERE agent_id = \(agent) AND currency = \(currency)
                """, logger) ?? nil
        return AssignmentLimits.exposure(ledger: ledger, unposted: unposted ?? 0, held: held, currency: currency)
    }

    /// The agent the order's pending offer is for, if it has one.
    func pendingOfferAgent(order: String, on connection: PostgresSession) async throws -> String? {
        try await connection.scalar(
            String.self, "SELECT agent_id FROM offers WHERE order_id = \(order) AND state = 'pending'", logger)
    }

    /// Assigns inside the caller's transaction; the caller checked that the order waits for an agent, so a refusal
    /// here is a bug that rolls the whole transaction back.
    func assign(order id: String, agent: String, actor: String, reason: String?, on connection: PostgresSession)
        async throws -> (OrderRecord, OrderEvent)
    {
        guard
            case .changed(let order, let event) = try await changeOrder(
                OrderChange(action: .assign, actor: actor, reason: reason, agent: agent), id, on: connection)
        else { throw StoreError(.conflict, "order \(id) can no longer be assigned") }
        return (order, event)
    }

    /// A rejected offer row: the agent gave the order back (or an operator took it away) and is never offered it
    /// again.
    func insertGiveBack(order: String, agent: String, time: Int64, reason: String, on connection: PostgresSession)
        async throws
    {
        try await connection.query(
            """
            INSERT INTO offers(order_id, agent_id, created, deadline, state, decided, reason)
            VALUES(\(order), \(agent), \(time), \(time), 'rejected', \(time), \(reason))
            """, logger: logger)
    }
}
