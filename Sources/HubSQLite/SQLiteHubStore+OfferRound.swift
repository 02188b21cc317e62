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
        struct AgentRow {
            var onShift: Bool
            var online: Bool
        }
        var orders: [String: OrderRecord] = [:]
        /// Order → the agent of its pending offer.
        var pendingAgent: [String: String] = [:]
        /// Order → the agents it excludes (``SQLiteHubStore/exclusions(orderList:)``).
        var excluded: [String: Set<String>] = [:]
        var agents: [String: AgentRow] = [:]
        /// As ``SQLiteHubStore/heldOrders(agentList:)`` reads them (the round's new offers last).
        var held: [String: [HeldByOrder]] = [:]
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
        try db.forEachRow(
            "SELECT \(Self.orderColumns) FROM orders WHERE id IN (SELECT value FROM json_each(?1))", [.text(orderIDs)]
        ) { s in
            let order = Self.orderRecord(s)
            round.orders[order.id] = order
        }
        try db.forEachRow(
            """
            SELECT order_id, agent_id FROM offers
            WHERE order_id IN (SELECT value FROM json_each(?1)) AND state = 'pending' ORDER BY order_id, id
            """, [.text(orderIDs)]
        ) { s in
            let order = s.text(0) ?? ""
            if round.pendingAgent[order] == nil { round.pendingAgent[order] = s.text(1) ?? "" }
        }
        round.excluded = try exclusions(orderList: orderIDs)
        var states: [(agent: String, onShift: Bool, bytes: [UInt8]?)] = []
        try db.forEachRow(
            "SELECT id, on_shift, state FROM agents WHERE id IN (SELECT value FROM json_each(?1))",
            [
                .text(agentList)
            ]
        ) { s in states.append((s.text(0) ?? "", s.int64(1) != 0, s.isNull(2) ? nil : s.bytes(2))) }
        for (agent, onShift, bytes) in states {
            round.agents[agent] = OfferRound.AgentRow(onShift: onShift, online: online(agent: agent, stored: bytes))
        }
        round.held = try heldOrders(agentList: agentList)
        let accounts = Dictionary(agentIDs.map { (LedgerAccount.agentCash($0), $0) }, uniquingKeysWith: { a, _ in a })
        try db.forEachRow(
            "SELECT name, currency, debits - credits FROM ledger_accounts WHERE name IN (SELECT value FROM json_each(?1))",
            [.text(Self.jsonArray(accounts.keys))]
        ) { s in
            guard let agent = accounts[s.text(0) ?? ""] else { return }
            round.ledger[agent, default: [:]][s.text(1) ?? ""] = s.int64(2)
        }
        try db.forEachRow(
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
        if round.excluded[order.id]?.contains(offer.agent) == true {
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
            HeldByOrder(
                order: order.id,
                held: HeldOrder(
                    restaurant: order.restaurantID, cash: order.paymentMethod == .cod, currency: order.currency,
                    total: order.total, offered: true)))
        return .offered(stored)
    }

    /// Inserts `offer` as pending; returns it with its id and state. The id is the connection's last insert rowid,
    /// not a `RETURNING` clause: a round inserts 1,000 offers, and `RETURNING` cost ~3 µs of each (~11 µs a row with
    /// it, ~8 without, in C against the round benchmark's database).
    func insertPendingOffer(_ offer: Offer) throws(SQLiteError) -> Offer {
        try db.prepare(
            "INSERT INTO offers(order_id, agent_id, created, deadline, state) VALUES(?, ?, ?, ?, 'pending')"
        ).run([.text(offer.order), .text(offer.agent), .integer(offer.created), .integer(offer.deadline)])
        var stored = offer
        stored.id = db.lastInsertRowID
        stored.state = .pending
        return stored
    }
}
