import DabbaProtocol
import DabbaSQLite
import HubModel

/// A dispatch round's offers checked against one read of what they depend on (``OfferRound``), instead of the ten
/// statements per offer ``SQLiteHubStore/makeOffer(_:limits:)`` runs: the same checks, in the same order, with the
/// same answers — each offer also sees the offers made before it in the round, since the round state is updated
/// as they are made. Read and used inside the round's `BEGIN IMMEDIATE` transaction, so nothing else writes
/// between the read and the offers.
extension SQLiteHubStore {
    /// What a round's offers are checked against: the requested orders, their pending offers, the excluded
    /// (order, agent) pairs, and the requested agents' rows, what they carry or hold on offer, and their cash.
    struct OfferRound {
        struct Pair: Hashable {
            var order: String
            var agent: String
        }
        struct AgentRow {
            var onShift: Bool
            var online: Bool
        }
        /// What an agent carries or holds on offer, with the order it is.
        struct Held {
            var order: String
            var held: HeldOrder
        }
        var orders: [String: OrderRecord] = [:]
        /// Order → the agent of its pending offer.
        var pendingAgent: [String: String] = [:]
        var excluded: Set<Pair> = []
        var agents: [String: AgentRow] = [:]
        /// In the order ``SQLiteHubStore/heldOrders(agent:excluding:)`` reads them: carried orders by status, then
        /// offers by id (the round's new ones last).
        var held: [String: [Held]] = [:]
        /// Agent → currency → its cash account's balance.
        var ledger: [String: [String: Int64]] = [:]
        /// Agent → currency → delivered cash not posted yet.
        var unposted: [String: [String: Int64]] = [:]
    }

    /// A JSON array of `values`, for `json_each(?)`.
    static func jsonArray(_ values: some Collection<String>) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads the round state for `offers`: one statement per kind.
    func readOfferRound(_ offers: [Offer]) throws(SQLiteError) -> OfferRound {
        var round = OfferRound()
        let orderIDs = Self.jsonArray(Set(offers.map(\.order)))
        let agentIDs = Set(offers.map(\.agent))
        let agentList = Self.jsonArray(agentIDs)
        func each(_ sql: String, _ values: [SQLiteValue], _ row: (SQLiteStatement) -> Void) throws(SQLiteError) {
            let s = try db.prepare(sql)
            defer { s.reset() }
            try s.bind(values)
            while try s.step() { row(s) }
        }
        try each(
            "SELECT \(Self.orderColumns) FROM orders WHERE id IN (SELECT value FROM json_each(?1))", [.text(orderIDs)]
        ) { s in
            let order = Self.orderRecord(s)
            round.orders[order.id] = order
        }
        try each(
            """
            SELECT order_id, agent_id FROM offers
            WHERE order_id IN (SELECT value FROM json_each(?1)) AND state = 'pending' ORDER BY order_id, id
            """, [.text(orderIDs)]
        ) { s in
            let order = s.text(0) ?? ""
            if round.pendingAgent[order] == nil { round.pendingAgent[order] = s.text(1) ?? "" }
        }
        try each(
            """
            SELECT order_id, agent_id FROM offers
            WHERE order_id IN (SELECT value FROM json_each(?1)) AND \(Self.excludingOffer)
            """, [.text(orderIDs)]
        ) { s in round.excluded.insert(OfferRound.Pair(order: s.text(0) ?? "", agent: s.text(1) ?? "")) }
        var states: [(agent: String, onShift: Bool, bytes: [UInt8]?)] = []
        try each(
            "SELECT id, on_shift, state FROM agents WHERE id IN (SELECT value FROM json_each(?1))",
            [
                .text(agentList)
            ]
        ) { s in states.append((s.text(0) ?? "", s.int64(1) != 0, s.isNull(2) ? nil : s.bytes(2))) }
        for (agent, onShift, bytes) in states {
            round.agents[agent] = OfferRound.AgentRow(onShift: onShift, online: online(agent: agent, stored: bytes))
        }
        try each(
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
            round.held[s.text(0) ?? "", default: []].append(
                OfferRound.Held(
                    order: s.text(1) ?? "",
                    held: HeldOrder(
                        restaurant: s.text(2) ?? "", cash: s.text(3) == PaymentMethod.cod.rawValue,
                        currency: s.text(4) ?? "", total: s.int64(5), offered: s.int64(6) != 0)))
        }
        let accounts = Dictionary(agentIDs.map { (LedgerAccount.agentCash($0), $0) }, uniquingKeysWith: { a, _ in a })
        try each(
            "SELECT name, currency, debits - credits FROM ledger_accounts WHERE name IN (SELECT value FROM json_each(?1))",
            [.text(Self.jsonArray(accounts.keys))]
        ) { s in
            guard let agent = accounts[s.text(0) ?? ""] else { return }
            round.ledger[agent, default: [:]][s.text(1) ?? ""] = s.int64(2)
        }
        try each(
            """
            SELECT agent_id, currency, SUM(amount) FROM cod_unposted
            WHERE agent_id IN (SELECT value FROM json_each(?1)) GROUP BY agent_id, currency
            """, [.text(agentList)]
        ) { s in round.unposted[s.text(0) ?? "", default: [:]][s.text(1) ?? ""] = s.int64(2) }
        return round
    }

    /// Whether the agent's stored state says online; a state that no longer decodes counts as none (offline) until
    /// the next one (logged).
    func online(agent: String, stored: [UInt8]?) -> Bool {
        guard let stored else { return false }
        do throws(PayloadError) {
            return try states.state(agent: agent, bytes: stored).online
        } catch {
            logger.warning("Stored agent state does not decode", metadata: ["agent": "\(agent)"])
            return false
        }
    }

    /// ``makeOffer(_:limits:)`` against the round state: the same checks in the same order; an offer made is
    /// inserted and added to the state (its order now has a pending offer, its agent holds it).
    func makeOffer(_ offer: Offer, limits: AssignmentLimits, round: inout OfferRound) throws(SQLiteError)
        -> OfferOutcome
    {
        guard let order = round.orders[offer.order] else { return .refused(.unknownOrder(offer.order)) }
        guard order.agentID == nil, OrderStatus.waitingForAgent.contains(order.status) else {
            return .refused(.notWaiting(order: order.id, status: order.status, agent: order.agentID))
        }
        if let other = round.pendingAgent[order.id] {
            return .refused(.alreadyOffered(order: order.id, agent: other))
        }
        if round.excluded.contains(OfferRound.Pair(order: order.id, agent: offer.agent)) {
            return .refused(.excluded(agent: offer.agent, order: order.id))
        }
        guard let agent = round.agents[offer.agent] else { return .refused(.unknownAgent(offer.agent)) }
        let held = (round.held[offer.agent] ?? []).filter { $0.order != order.id }.map(\.held)
        let exposure =
            order.paymentMethod == .cod
            ? AssignmentLimits.exposure(
                ledger: round.ledger[offer.agent]?[order.currency] ?? 0,
                unposted: round.unposted[offer.agent]?[order.currency] ?? 0, held: held, currency: order.currency)
            : nil
        if let refusal = limits.refusal(
            agent: offer.agent, for: order, onShift: agent.onShift, online: agent.online, held: held,
            sameRestaurant: true, exposure: exposure)
        {
            return .refused(refusal)
        }
        let stored = try insertPendingOffer(offer)
        round.pendingAgent[order.id] = offer.agent
        round.held[offer.agent, default: []].append(
            OfferRound.Held(
                order: order.id,
                held: HeldOrder(
                    restaurant: order.restaurantID, cash: order.paymentMethod == .cod, currency: order.currency,
                    total: order.total, offered: true)))
        return .offered(stored)
    }

    /// Inserts `offer` as pending; returns it with its id and state.
    func insertPendingOffer(_ offer: Offer) throws(SQLiteError) -> Offer {
        let insert = try db.prepare(
            "INSERT INTO offers(order_id, agent_id, created, deadline, state) VALUES(?, ?, ?, ?, 'pending') RETURNING id"
        )
        defer { insert.reset() }
        try insert.bind([.text(offer.order), .text(offer.agent), .integer(offer.created), .integer(offer.deadline)])
        var stored = offer
        stored.id = try insert.step() ? insert.int64(0) : 0
        while try insert.step() {}
        stored.state = .pending
        return stored
    }
}
