import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

/// Offers, accepts, operators' assignments and unassignments, each one transaction that checks
/// ``AssignmentLimits`` before it writes (`BEGIN IMMEDIATE`: the reads and the write see the same database, whichever
/// hub or round runs next to it).
extension SQLiteHubStore {
    package func createOffer(_ offer: Offer, limits: AssignmentLimits) throws(StoreError) -> OfferOutcome {
        try run { () throws(SQLiteError) -> OfferOutcome in
            try db.transaction { () throws(SQLiteError) -> OfferOutcome in try makeOffer(offer, limits: limits) }
        }
    }

    /// One transaction for the whole round (`BEGIN IMMEDIATE`: no other writer between the offers' checks), the
    /// offers checked against one read of what they depend on (``readOfferRound(_:)``).
    package func createOffers(_ requests: [OfferRequest], limits: AssignmentLimits) throws(StoreError)
        -> [OfferOutcome]
    {
        guard !requests.isEmpty else { return [] }
        let decisions = try requests.map { (request) throws(StoreError) in try request.decision.encodedCandidates()
        }
        return try run { () throws(SQLiteError) -> [OfferOutcome] in
            try db.transaction { () throws(SQLiteError) -> [OfferOutcome] in
                var outcomes: [OfferOutcome] = []
                outcomes.reserveCapacity(requests.count)
                var round = try readOfferRound(requests.map(\.offer))
                for (request, candidates) in zip(requests, decisions) {
                    let outcome = try makeOffer(request.offer, limits: limits, round: &round)
                    if case .offered = outcome { try insertDecision(request.decision, candidates: candidates) }
                    outcomes.append(outcome)
                }
                return outcomes
            }
        }
    }

    /// ``createOffer(_:limits:)``'s checks and insert, inside the caller's transaction.
    func makeOffer(_ offer: Offer, limits: AssignmentLimits) throws(SQLiteError) -> OfferOutcome {
        guard let order = try readOrder(id: offer.order, withLines: false) else {
            return .refused(.unknownOrder(offer.order))
        }
        guard order.agentID == nil, OrderStatus.waitingForAgent.contains(order.status) else {
            return .refused(.notWaiting(order: order.id, status: order.status, agent: order.agentID))
        }
        if let other = try pendingOfferAgent(order: order.id) {
            return .refused(.alreadyOffered(order: order.id, agent: other))
        }
        let excluded = try db.scalarInt(
            "SELECT 1 FROM offers WHERE order_id = ? AND agent_id = ? AND \(Self.excludingOffer) LIMIT 1",
            [.text(order.id), .text(offer.agent)])
        if excluded != nil { return .refused(.excluded(agent: offer.agent, order: order.id)) }
        if let refusal = try assignmentRefusal(
            agent: offer.agent, for: order, limits: limits, sameRestaurant: true)
        {
            return .refused(refusal)
        }
        return .offered(try insertPendingOffer(offer))
    }

    package func acceptOffer(order id: String, agent: String, actor: String, limits: AssignmentLimits, now: Int64)
        throws(StoreError) -> AssignmentOutcome
    {
        try run { () throws(SQLiteError) -> AssignmentOutcome in
            try db.transaction { () throws(SQLiteError) -> AssignmentOutcome in
                guard
                    let pending = try readOffersRaw(
                        "WHERE order_id = ? AND agent_id = ? AND state = 'pending'", [.text(id), .text(agent)]
                    ).first
                else { return .refused(.noPendingOffer(order: id, agent: agent)) }
                guard now < pending.deadline else {
                    return .refused(.lapsed(order: id, agent: agent, deadline: pending.deadline))
                }
                guard let order = try readOrder(id: id) else { return .refused(.unknownOrder(id)) }
                guard order.agentID == nil, OrderStatus.waitingForAgent.contains(order.status) else {
                    return .refused(.notWaiting(order: id, status: order.status, agent: order.agentID))
                }
                if let refusal = try assignmentRefusal(agent: agent, for: order, limits: limits, sameRestaurant: false)
                {
                    return .refused(refusal)
                }
                _ = try closePending(order: id, agent: agent, state: .accepted, reason: nil)
                let (assigned, event) = try assign(order: id, agent: agent, actor: actor, reason: nil)
                return .assigned(assigned, event, withdrawn: [])
            }
        }
    }

    package func assignOrder(order id: String, agent: String, actor: String, reason: String?, limits: AssignmentLimits)
        throws(StoreError) -> AssignmentOutcome
    {
        try run { () throws(SQLiteError) -> AssignmentOutcome in
            try db.transaction { () throws(SQLiteError) -> AssignmentOutcome in
                guard let order = try readOrder(id: id) else { return .refused(.unknownOrder(id)) }
                guard order.agentID == nil, OrderStatus.waitingForAgent.contains(order.status) else {
                    return .refused(.illegal(OrderTransitionError(current: order.status, action: .assign)))
                }
                if let refusal = try assignmentRefusal(agent: agent, for: order, limits: limits, sameRestaurant: false)
                {
                    return .refused(refusal)
                }
                // The order's pending offer (to this agent or another) ends with the assignment.
                var withdrawn: [Offer] = []
                if let offered = try pendingOfferAgent(order: id),
                    let closed = try closePending(
                        order: id, agent: offered, state: .withdrawn, reason: "assigned to \(agent) by \(actor)")
                {
                    withdrawn.append(closed)
                }
                let (assigned, event) = try assign(order: id, agent: agent, actor: actor, reason: reason)
                return .assigned(assigned, event, withdrawn: withdrawn)
            }
        }
    }

    package func unassignOrder(order id: String, actor: String, reason: String?, excludeAgent: Bool)
        throws(StoreError) -> (OrderRecord, OrderEvent)
    {
        let outcome = try run { () throws(SQLiteError) -> OrderChangeOutcome in
            try db.transaction { () throws(SQLiteError) -> OrderChangeOutcome in
                guard let order = try readOrder(id: id) else { return .notFound }
                let outcome = try changeOrder(
                    OrderChange(action: .unassign, actor: actor, reason: reason, allowedFrom: [.assigned]), id)
                if case .changed = outcome, excludeAgent, let agent = order.agentID {
                    try insertGiveBack(order: id, agent: agent, time: wallClockMilliseconds(), reason: reason ?? actor)
                }
                return outcome
            }
        }
        return try outcome.get(id)
    }

    package func cashExposure(agent: String, currency: String) throws(StoreError) -> Int64 {
        try run { () throws(SQLiteError) -> Int64 in
            let held = try heldOrders(agent: agent, excluding: "")
            return try exposure(agent: agent, currency: currency, held: held)
        }
    }

    package func cashExposures(currency: String) throws(StoreError) -> [String: Int64] {
        try run { () throws(SQLiteError) -> [String: Int64] in
            var exposures: [String: Int64] = [:]
            func add(_ sql: String, _ values: [SQLiteValue]? = nil, agentID: (String) -> String?) throws(SQLiteError) {
                try db.forEachRow(sql, values ?? [.text(currency)]) { s in
                    guard let agent = agentID(s.text(0) ?? "") else { return }
                    exposures[agent, default: 0] += s.int64(1)
                }
            }
            // The ledger's agent cash accounts, whatever their names' exact shape: `agent:{id}:cash` today.
            let template = LedgerAccount.agentCash("\u{0}")
            let head = String(template.prefix { $0 != "\u{0}" })
            let tail = String(template.drop { $0 != "\u{0}" }.dropFirst())
            // A range on the primary key (name, currency): only agents' accounts are read.
            let after =
                head.unicodeScalars.last.flatMap { Unicode.Scalar($0.value + 1) }.map {
                    String(head.unicodeScalars.dropLast()) + String($0)
                } ?? head
            try add(
                "SELECT name, debits - credits FROM ledger_accounts WHERE name >= ? AND name < ? AND currency = ?",
                [.text(head), .text(after), .text(currency)]
            ) { name in
                guard name.hasPrefix(head), name.hasSuffix(tail), name.count > head.count + tail.count else {
                    return nil
                }
                return String(name.dropFirst(head.count).dropLast(tail.count))
            }
            try add("SELECT agent_id, SUM(amount) FROM cod_unposted WHERE currency = ? GROUP BY agent_id") { $0 }
            try add(
                """
                SELECT agent_id, SUM(total) FROM orders
                WHERE status IN ('assigned', 'picked_up') AND payment_method = 'cod' AND currency = ?
                GROUP BY agent_id
                """
            ) { $0 }
            try add(
                """
                SELECT f.agent_id, SUM(o.total) FROM offers f JOIN orders o ON o.id = f.order_id
                WHERE f.state = 'pending' AND o.payment_method = 'cod' AND o.currency = ?
                GROUP BY f.agent_id
                """
            ) { $0 }
            return exposures
        }
    }

    // MARK: - Inside the transaction

    /// The checks of ``AssignmentLimits`` for giving `order` to `agent` (``AssignmentLimits/refusal(agent:for:onShift:online:held:sameRestaurant:exposure:)``
    /// decides); nil when it may have it. Call inside the transaction that writes the assignment or offer.
    func assignmentRefusal(agent: String, for order: OrderRecord, limits: AssignmentLimits, sameRestaurant: Bool)
        throws(SQLiteError) -> AssignmentRefusal?
    {
        let s = try db.prepare("SELECT on_shift, state FROM agents WHERE id = ?")
        try s.bind([.text(agent)])
        guard try s.step() else {
            s.reset()
            return .unknownAgent(agent)
        }
        let onShift = s.int64(0) != 0
        let stored = s.isNull(1) ? nil : s.bytes(1)
        s.reset()
        let online = online(agent: agent, stored: stored)
        let held = try heldOrders(agent: agent, excluding: order.id)
        let exposure =
            order.paymentMethod == .cod ? try exposure(agent: agent, currency: order.currency, held: held) : nil
        return limits.refusal(
            agent: agent, for: order, onShift: onShift, online: online, held: held, sameRestaurant: sameRestaurant,
            exposure: exposure)
    }

    /// What `agent` carries or holds on offer, other than order `excluded`.
    func heldOrders(agent: String, excluding excluded: String) throws(SQLiteError) -> [HeldOrder] {
        try heldOrders(agentList: Self.jsonArray([agent]))[agent, default: []].filter { $0.order != excluded }
            .map(\.held)
    }

    /// What an agent carries or holds on offer, with the order it is.
    struct HeldByOrder {
        var order: String
        var held: HeldOrder
    }

    /// What each agent of `agentList` (a JSON array, for `json_each`) carries or holds on offer: carried orders by
    /// status, then offers by id.
    func heldOrders(agentList: String) throws(SQLiteError) -> [String: [HeldByOrder]] {
        var held: [String: [HeldByOrder]] = [:]
        try db.forEachRow(
            """
            SELECT agent_id, id, restaurant_id, payment_method, currency, total, 0, status, rowid FROM orders
            WHERE agent_id IN (SELECT value FROM json_each(?1)) AND status IN ('assigned', 'picked_up')
            UNION ALL
            SELECT f.agent_id, o.id, o.restaurant_id, o.payment_method, o.currency, o.total, 1, '', f.id
            FROM offers f JOIN orders o ON o.id = f.order_id
            WHERE f.agent_id IN (SELECT value FROM json_each(?1)) AND f.state = 'pending'
            ORDER BY 1, 7, 8, 9
            """, [.text(agentList)]
        ) { s in
            held[s.text(0) ?? "", default: []].append(
                HeldByOrder(
                    order: s.text(1) ?? "",
                    held: HeldOrder(
                        restaurant: s.text(2) ?? "", cash: s.text(3) == PaymentMethod.cod.rawValue,
                        currency: s.text(4) ?? "", total: s.int64(5), offered: s.int64(6) != 0)))
        }
        return held
    }

    /// The agent's cash exposure in `currency` (``AssignmentLimits``), `held` being what it carries or is offered.
    func exposure(agent: String, currency: String, held: [HeldOrder]) throws(SQLiteError) -> Int64 {
        let ledger = try balance(LedgerAccount.agentCash(agent), currency)
        let unposted =
            try db.scalarInt(
                "SELECT SUM(amount) FROM cod_unposted WHERE agent_id = ? AND currency = ?",
                [.text(agent), .text(currency)]) ?? 0
        return AssignmentLimits.exposure(ledger: ledger, unposted: unposted, held: held, currency: currency)
    }

    /// The agent the order's pending offer is for, if it has one.
    func pendingOfferAgent(order: String) throws(SQLiteError) -> String? {
        let s = try db.prepare("SELECT agent_id FROM offers WHERE order_id = ? AND state = 'pending'")
        defer { s.reset() }
        try s.bind([.text(order)])
        return try s.step() ? s.text(0) : nil
    }

    /// Assigns inside the caller's transaction; the caller checked that the order waits for an agent, so a refusal
    /// here is a bug that rolls the whole transaction back.
    func assign(order id: String, agent: String, actor: String, reason: String?) throws(SQLiteError)
        -> (OrderRecord, OrderEvent)
    {
        guard
            case .changed(let order, let event) = try changeOrder(
                OrderChange(action: .assign, actor: actor, reason: reason, agent: agent), id)
        else { throw SQLiteError(extendedCode: 19, message: "order \(id) can no longer be assigned") }
        return (order, event)
    }

    /// A rejected offer row: the agent gave the order back (or an operator took it away) and is never offered it
    /// again.
    func insertGiveBack(order: String, agent: String, time: Int64, reason: String) throws(SQLiteError) {
        try db.prepare(
            """
            INSERT INTO offers(order_id, agent_id, created, deadline, state, decided, reason)
            VALUES(?1, ?2, ?3, ?3, 'rejected', ?3, ?4)
            """
        ).run([.text(order), .text(agent), .integer(time), .text(reason)])
    }
}
