import DabbaCore
import DabbaProtocol
import DabbaSQLite
import Foundation
import HubModel

extension SQLiteHubStore: DispatchRepository {
    package func setShift(agent: String, onShift: Bool) throws(StoreError) {
        let changed = try run { () throws(SQLiteError) -> Int in
            try db.prepare(Self.shiftUpdate + " WHERE id = ?3")
                .run([.integer(onShift ? 1 : 0), .integer(wallClockMilliseconds()), .text(agent)])
            return db.changes
        }
        if changed == 0 { throw StoreError(.notFound, "no agent \(agent)") }
    }

    package func shift(agent: String) throws(StoreError) -> AgentShift? {
        try run { () throws(SQLiteError) -> AgentShift? in
            let s = try db.prepare("SELECT on_shift, shift_started_at FROM agents WHERE id = ?")
            defer { s.reset() }
            try s.bind([.text(agent)])
            guard try s.step() else { return nil }
            return AgentShift(onShift: s.int64(0) != 0, startedAt: s.isNull(1) ? nil : s.int64(1))
        }
    }

    package func applyDeviceShift(agent: String, seq: Int64, onShift: Bool, time: Int64) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) -> Bool in
            try db.transaction { () throws(SQLiteError) -> Bool in
                try db.prepare(
                    Self.shiftUpdate + " WHERE id = ?3 AND (shift_changed_at IS NULL OR shift_changed_at < ?2)"
                )
                .run([.integer(onShift ? 1 : 0), .integer(time), .text(agent)])
                let changed = db.changes == 1
                try db.prepare("UPDATE events SET applied = 1 WHERE agent = ? AND seq = ?").run([
                    .text(agent), .integer(seq),
                ])
                return changed
            }
        }
    }

    /// A shift change (`?1` on or off, at `?2`): a start while off shift is the shift's start (least-recent's
    /// line); a "start" while already on shift changes nothing but the change time.
    static let shiftUpdate = """
        UPDATE agents SET on_shift = ?1, shift_changed_at = ?2,
            shift_started_at = CASE WHEN ?1 = 1 AND on_shift = 0 THEN ?2 ELSE shift_started_at END
        """

    /// One statement: the agents as ``agents()`` reads them, with dispatch's columns after them.
    package func dispatchAgents() throws(StoreError) -> [DispatchAgentRow] {
        try run { () throws(SQLiteError) -> [DispatchAgentRow] in
            let s = try db.prepare(
                """
                SELECT \(Self.agentColumns), a.on_shift, a.last_delivery_at, a.shift_started_at, a.last_lapse_at
                \(Self.agentTables) ORDER BY a.id
                """)
            defer { s.reset() }
            func time(_ column: Int32) -> Int64? { s.isNull(column) ? nil : s.int64(column) }
            var rows: [DispatchAgentRow] = []
            while try s.step() {
                rows.append(
                    DispatchAgentRow(
                        agent: agentRow(s), onShift: s.int64(15) != 0, lastDeliveryAt: time(16),
                        shiftStartedAt: time(17),
                        lastLapseAt: time(18)))
            }
            return rows
        }
    }

    package func dispatchQueue() throws(StoreError) -> [OrderRecord] {
        try run { () throws(SQLiteError) -> [OrderRecord] in
            try readOrders(
                """
                WHERE o.status IN ('confirmed', 'preparing', 'ready_for_pickup') AND o.agent_id IS NULL
                  AND NOT EXISTS (SELECT 1 FROM offers f WHERE f.order_id = o.id AND f.state = 'pending')
                ORDER BY o.created, o.id
                """)
        }
    }

    package func agentLoads() throws(StoreError) -> [String: [OrderRecord]] {
        let loads = try run { () throws(SQLiteError) -> [OrderRecord] in
            try readOrders("WHERE o.status IN ('assigned', 'picked_up') ORDER BY o.created")
        }
        return Dictionary(grouping: loads, by: { $0.agentID ?? "" })
    }

    package func recordGiveBack(order: String, agent: String, time: Int64, reason: String) throws(StoreError) {
        try run { () throws(SQLiteError) in try insertGiveBack(order: order, agent: agent, time: time, reason: reason) }
    }

    package func pendingOffers() throws(StoreError) -> [Offer] {
        try readOffers("WHERE state = 'pending' ORDER BY deadline, id", [])
    }

    package func unsentOffers() throws(StoreError) -> [Offer] {
        try readOffers("WHERE state = 'pending' AND sent IS NULL ORDER BY deadline, id", [])
    }

    package func offers(order: String) throws(StoreError) -> [Offer] {
        try readOffers("WHERE order_id = ? ORDER BY id", [.text(order)])
    }

    package func excludedAgents(order: String) throws(StoreError) -> Set<String> {
        Set(try readOffers("WHERE order_id = ? AND \(Self.excludingOffer)", [.text(order)]).map(\.agent))
    }

    /// One statement for all the orders.
    package func excludedAgents(orders: [String]) throws(StoreError) -> [String: Set<String>] {
        guard !orders.isEmpty else { return [:] }
        return try run { () throws(SQLiteError) in try exclusions(orderList: Self.jsonArray(orders)) }
    }

    /// Order → the agents it excludes, for the orders of `orderList` (a JSON array, for `json_each`).
    func exclusions(orderList: String) throws(SQLiteError) -> [String: Set<String>] {
        var excluded: [String: Set<String>] = [:]
        try db.forEachRow(Self.exclusionsQuery, [.text(orderList)]) { s in
            excluded[s.text(0) ?? "", default: []].insert(s.text(1) ?? "")
        }
        return excluded
    }

    /// ``exclusions(orderList:)``'s read: by the `offers_excluding` index, it visits only the excluding offers.
    static let exclusionsQuery = """
        SELECT order_id, agent_id FROM offers
        WHERE order_id IN (SELECT value FROM json_each(?1)) AND \(excludingOffer)
        """

    /// An offer row that excludes its agent from its order: rejected (or given back), or lapsed after delivery —
    /// an undelivered lapse does not (``Offer/lapseExcludes``). Migration 21's `offers_excluding` repeats this text
    /// as its WHERE (the planner uses a partial index only then): change both together.
    static let excludingOffer =
        "(state = 'rejected' OR (state = 'expired' AND reason IS NOT '\(Offer.undeliveredReason)'))"

    package func closeOffer(order: String, agent: String, state: Offer.State, reason: String?) throws(StoreError)
        -> Offer?
    {
        try run { () throws(SQLiteError) -> Offer? in
            try db.transaction { () throws(SQLiteError) -> Offer? in
                try closePending(order: order, agent: agent, state: state, reason: reason)
            }
        }
    }

    /// The one place an offer leaves `pending`: a conditional UPDATE, so of two racing deciders exactly one wins. A
    /// lapse of a delivered offer (``Offer/lapseExcludes``) also sends its agent to the back of the least-recent
    /// line: its `last_lapse_at` becomes the offer's deadline, the moment it lapsed.
    func closePending(order: String, agent: String, state: Offer.State, reason: String?) throws(SQLiteError)
        -> Offer?
    {
        guard
            let pending = try readOffersRaw(
                "WHERE order_id = ? AND agent_id = ? AND state = 'pending'", [.text(order), .text(agent)]
            ).first
        else { return nil }
        try db.prepare("UPDATE offers SET state = ?, decided = ?, reason = ? WHERE id = ? AND state = 'pending'")
            .run([
                .text(state.rawValue), .integer(wallClockMilliseconds()), reason.map { .text($0) } ?? .null,
                .integer(pending.id),
            ])
        guard db.changes == 1 else { return nil }
        if state == .expired && reason != Offer.undeliveredReason {
            try db.prepare("UPDATE agents SET last_lapse_at = MAX(COALESCE(last_lapse_at, 0), ?) WHERE id = ?")
                .run([.integer(pending.deadline), .text(agent)])
        }
        var closed = pending
        closed.state = state
        closed.reason = reason
        return closed
    }

    package func recordDecision(_ record: DispatchRecord) throws(StoreError) {
        let candidates = try record.encodedCandidates()
        try run { () throws(SQLiteError) in try insertDecision(record, candidates: candidates) }
    }

    /// Inserts a decision row (its `candidates` encoded by ``DispatchRecord/encodedCandidates()``), in the caller's `run`.
    func insertDecision(_ record: DispatchRecord, candidates: [UInt8]) throws(SQLiteError) {
        try db.prepare(
            """
            INSERT INTO dispatch_decisions(order_id, time, policy, agent_id, outcome, candidates, reason)
            VALUES(?, ?, ?, ?, ?, ?, ?)
            """
        ).run([
            .text(record.order), .integer(record.time), .text(record.policy), record.agent.map { .text($0) } ?? .null,
            .text(record.outcome), .blob(candidates), record.reason.map { .text($0) } ?? .null,
        ])
    }

    package func decisions(order: String) throws(StoreError) -> [DispatchRecord] {
        try run { () throws(SQLiteError) -> [DispatchRecord] in
            let s = try db.prepare(
                """
                SELECT time, policy, agent_id, outcome, candidates, reason FROM dispatch_decisions
                WHERE order_id = ? ORDER BY id
                """
            )
            defer { s.reset() }
            try s.bind([.text(order)])
            var records: [DispatchRecord] = []
            while try s.step() {
                let candidates =
                    (try? JSONDecoder().decode([DispatchRecord.Candidate].self, from: Data(s.bytes(4)))) ?? []
                records.append(
                    DispatchRecord(
                        order: order, time: s.int64(0), policy: s.text(1) ?? "", agent: s.text(2),
                        outcome: s.text(3) ?? "", candidates: candidates, reason: s.text(5)))
            }
            return records
        }
    }

    package func unappliedEvents(limit: Int) throws(StoreError) -> [DeviceEvent] {
        try run { () throws(SQLiteError) -> [DeviceEvent] in
            let s = try db.prepare(
                "SELECT agent, seq, time, order_id, type, payload FROM events WHERE applied = 0 ORDER BY time, agent, seq LIMIT ?"
            )
            defer { s.reset() }
            try s.bind([.integer(Int64(limit))])
            var events: [DeviceEvent] = []
            while try s.step() {
                events.append(
                    DeviceEvent(
                        agent: s.text(0) ?? "", seq: s.int64(1), time: s.int64(2), order: s.text(3) ?? "",
                        type: s.text(4) ?? "",
                        payload: s.bytes(5)))
            }
            return events
        }
    }

    package func applyDeviceEvent(agent: String, seq: Int64, change: OrderChange?, order: String) throws(StoreError)
        -> (OrderRecord, OrderEvent)?
    {
        try run { () throws(SQLiteError) -> (OrderRecord, OrderEvent)? in
            try db.transaction { () throws(SQLiteError) -> (OrderRecord, OrderEvent)? in
                var result: (OrderRecord, OrderEvent)?
                if let change, case .changed(let o, let e) = try changeOrder(change, order) { result = (o, e) }
                try db.prepare("UPDATE events SET applied = 1 WHERE agent = ? AND seq = ?").run([
                    .text(agent), .integer(seq),
                ])
                return result
            }
        }
    }

    package func raiseAlert(kind: String, agent: String?, order: String?, message: String) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) -> Bool in
            try insertAlert(kind: kind, agent: agent, order: order, message: message)
        }
    }

    package func alerts(limit: Int) throws(StoreError) -> [OperatorAlert] {
        try run { () throws(SQLiteError) -> [OperatorAlert] in
            let s = try db.prepare(
                "SELECT id, time, kind, agent_id, order_id, message FROM alerts ORDER BY id DESC LIMIT ?")
            defer { s.reset() }
            try s.bind([.integer(Int64(limit))])
            var alerts: [OperatorAlert] = []
            while try s.step() {
                alerts.append(
                    OperatorAlert(
                        id: s.int64(0), time: s.int64(1), kind: s.text(2) ?? "", agent: s.text(3), order: s.text(4),
                        message: s.text(5) ?? ""))
            }
            return alerts
        }
    }

    private func readOffers(_ clause: String, _ values: [SQLiteValue]) throws(StoreError) -> [Offer] {
        try run { () throws(SQLiteError) -> [Offer] in try readOffersRaw(clause, values) }
    }

    func readOffersRaw(_ clause: String, _ values: [SQLiteValue]) throws(SQLiteError) -> [Offer] {
        let s = try db.prepare(
            "SELECT id, order_id, agent_id, created, deadline, state, reason, sent, seen FROM offers " + clause)
        defer { s.reset() }
        try s.bind(values)
        var offers: [Offer] = []
        while try s.step() {
            offers.append(
                Offer(
                    id: s.int64(0), order: s.text(1) ?? "", agent: s.text(2) ?? "", created: s.int64(3),
                    deadline: s.int64(4),
                    state: Offer.State(rawValue: s.text(5) ?? "") ?? .expired, reason: s.text(6),
                    sent: s.isNull(7) ? nil : s.int64(7), seen: s.isNull(8) ? nil : s.int64(8)))
        }
        return offers
    }
}
