import DabbaCore
import DabbaProtocol
import Foundation
import HubModel
import PostgresNIO

extension PostgresHubStore: DispatchRepository {
    /// One `UPDATE`: a start while off shift is the shift's start (least-recent's line), decided on the row version
    /// the update locked (`on_shift` in `SET` is the value before it); a "start" while already on shift changes
    /// nothing but the change time.
    package func setShift(agent: String, onShift: Bool) async throws(StoreError) {
        let now = wallClockMilliseconds()
        let changed = try await run { connection in
            try await connection.rows(
                """
                UPDATE agents SET on_shift = \(onShift), shift_changed_at = \(now),
                    shift_started_at = CASE WHEN \(onShift) AND NOT on_shift THEN \(now) ELSE shift_started_at END
                WHERE id = \(agent) RETURNING 1
                """, logger
            ).count
        }
        if changed == 0 { throw StoreError(.notFound, "no agent \(agent)") }
    }

    package func shift(agent: String) async throws(StoreError) -> AgentShift? {
        try await run { connection -> AgentShift? in
            let rows = try await connection.rows(
                "SELECT on_shift, shift_started_at FROM agents WHERE id = \(agent)", logger)
            guard let row = rows.first else { return nil }
            let (onShift, startedAt) = try row.decode((Bool, Int64?).self)
            return AgentShift(onShift: onShift, startedAt: startedAt)
        }
    }

    /// One READ COMMITTED transaction of two conditional `UPDATE`s: the shift changes only when newer than the
    /// last change (re-checked on the newest row version, so of two hubs applying changes at once the newest wins),
    /// and the event is marked applied either way.
    package func applyDeviceShift(agent: String, seq: Int64, onShift: Bool, time: Int64) async throws(StoreError)
        -> Bool
    {
        try await transaction { connection in
            let changed =
                try await connection.rows(
                    """
                    UPDATE agents SET on_shift = \(onShift), shift_changed_at = \(time),
                        shift_started_at = CASE WHEN \(onShift) AND NOT on_shift THEN \(time) ELSE shift_started_at END
                    WHERE id = \(agent) AND (shift_changed_at IS NULL OR shift_changed_at < \(time)) RETURNING 1
                    """, logger
                ).count == 1
            try await connection.query(
                "UPDATE events SET applied = true WHERE agent = \(agent) AND seq = \(seq)", logger: logger)
            return changed
        }
    }

    /// Two `SELECT`s (the agents, their dispatch columns), as SQLite's.
    package func dispatchAgents() async throws(StoreError) -> [DispatchAgentRow] {
        let records = try await agents()
        let extra = try await run { connection -> [String: DispatchAgentRow] in
            var map: [String: DispatchAgentRow] = [:]
            for row in try await connection.rows(
                "SELECT id, on_shift, last_delivery_at, shift_started_at, last_lapse_at FROM agents", logger)
            {
                let (id, onShift, delivery, started, lapse) = try row.decode(
                    (String, Bool, Int64?, Int64?, Int64?).self)
                map[id] = DispatchAgentRow(
                    agent: AgentRecord(id: id, createdAt: 0), onShift: onShift, lastDeliveryAt: delivery,
                    shiftStartedAt: started, lastLapseAt: lapse)
            }
            return map
        }
        return records.map { r in
            var row = extra[r.id] ?? DispatchAgentRow(agent: r, onShift: false, lastDeliveryAt: nil)
            row.agent = r
            return row
        }
    }

    /// One `SELECT` of ids, then each order.
    package func dispatchQueue() async throws(StoreError) -> [OrderRecord] {
        try await orderList(
            """
            SELECT o.id FROM orders o
            WHERE o.status IN ('confirmed', 'preparing', 'ready_for_pickup') AND o.agent_id IS NULL
              AND NOT EXISTS (SELECT 1 FROM offers f WHERE f.order_id = o.id AND f.state = 'pending')
            ORDER BY o.created, o.id
            """)
    }

    /// One `SELECT` of ids, then each order.
    package func agentLoads() async throws(StoreError) -> [String: [OrderRecord]] {
        Dictionary(
            grouping: try await orderList(
                "SELECT id FROM orders WHERE status IN ('assigned', 'picked_up') ORDER BY created, id"),
            by: { $0.agentID ?? "" })
    }

    private func orderList(_ query: PostgresQuery) async throws(StoreError) -> [OrderRecord] {
        try await run { connection in
            let ids = try await connection.rows(query, logger).map { try $0.decode(String.self) }
            return try await readOrders(ids, on: connection)
        }
    }

    /// One `INSERT`.
    package func recordGiveBack(order: String, agent: String, time: Int64, reason: String) async throws(StoreError) {
        try await run { connection in
            try await insertGiveBack(order: order, agent: agent, time: time, reason: reason, on: connection)
        }
    }

    /// One `SELECT`.
    package func pendingOffers() async throws(StoreError) -> [Offer] {
        try await run { connection in
            try await readOffers("WHERE state = 'pending' ORDER BY deadline, id", on: connection)
        }
    }

    /// One `SELECT`.
    package func unsentOffers() async throws(StoreError) -> [Offer] {
        try await run { connection in
            try await readOffers("WHERE state = 'pending' AND sent IS NULL ORDER BY deadline, id", on: connection)
        }
    }

    /// One `SELECT`.
    package func offers(order: String) async throws(StoreError) -> [Offer] {
        try await run { connection in try await readOffers("WHERE order_id = \(order) ORDER BY id", on: connection) }
    }

    /// One `SELECT`.
    package func excludedAgents(order: String) async throws(StoreError) -> Set<String> {
        try await run { connection in
            Set(
                try await readOffers(
                    "WHERE order_id = \(order) AND \(unescaped: Self.excludingOffer)", on: connection
                ).map(\.agent))
        }
    }

    /// One `SELECT` for all of them.
    package func excludedAgents(orders: [String]) async throws(StoreError) -> [String: Set<String>] {
        guard !orders.isEmpty else { return [:] }
        return try await run { connection in
            var excluded: [String: Set<String>] = [:]
            for offer in try await readOffers(
                "WHERE order_id = ANY(\(orders)) AND \(unescaped: Self.excludingOffer)", on: connection)
            {
                excluded[offer.order, default: []].insert(offer.agent)
            }
            return excluded
        }
    }

    /// An offer row that excludes its agent from its order: rejected (or given back), or lapsed after delivery —
    /// an undelivered lapse does not (``Offer/lapseExcludes``).
    static let excludingOffer =
        "(state = 'rejected' OR (state = 'expired' AND reason IS DISTINCT FROM '\(Offer.undeliveredReason)'))"

    /// One READ COMMITTED transaction around ``closePending(order:agent:state:reason:on:)``.
    package func closeOffer(order: String, agent: String, state: Offer.State, reason: String?) async throws(StoreError)
        -> Offer?
    {
        try await transaction { connection in
            try await closePending(order: order, agent: agent, state: state, reason: reason, on: connection)
        }
    }

    /// The one place an offer leaves `pending`: a conditional `UPDATE … RETURNING`, which PostgreSQL re-checks on
    /// the newest row version after waiting for a concurrent decider's row lock, so of two racing deciders (any
    /// hubs) exactly one wins. A lapse of a delivered offer also sends its agent to the back of the least-recent
    /// line: its `last_lapse_at` becomes the offer's deadline.
    func closePending(
        order: String, agent: String, state: Offer.State, reason: String?, on connection: PostgresSession
    ) async throws -> Offer? {
        guard
            var closed = try await readOffers(
                """
                UPDATE offers f SET state = \(state.rawValue), decided = \(wallClockMilliseconds()), reason = \(reason)
                WHERE f.order_id = \(order) AND f.agent_id = \(agent) AND f.state = 'pending'
                RETURNING \(unescaped: Self.offerColumns)
                """, select: false, on: connection
            ).first
        else { return nil }
        if state == .expired && reason != Offer.undeliveredReason {
            try await connection.query(
                """
                UPDATE agents SET last_lapse_at = greatest(COALESCE(last_lapse_at, 0), \(closed.deadline))
                WHERE id = \(agent)
                """, logger: logger)
        }
        closed.state = state
        closed.reason = reason
        return closed
    }

    /// One `INSERT`.
    package func recordDecision(_ record: DispatchRecord) async throws(StoreError) {
        let candidates = try record.encodedCandidates()
        try await run { connection in try await insertDecision(record, candidates: candidates, on: connection) }
    }

    /// Inserts a decision row (its `candidates` encoded by ``DispatchRecord/encodedCandidates()``) on `connection`.
    func insertDecision(_ record: DispatchRecord, candidates: [UInt8], on connection: PostgresSession) async throws {
        try await connection.query(
            """
            INSERT INTO dispatch_decisions(order_id, time, policy, agent_id, outcome, candidates, reason)
            VALUES(\(record.order), \(record.time), \(record.policy), \(record.agent), \(record.outcome),
                \(Bytea.bind(candidates)), \(record.reason))
            """, logger: logger)
    }

    /// One `SELECT`, oldest first. Candidates that no longer decode are shown as none (logged), as in SQLite.
    package func decisions(order: String) async throws(StoreError) -> [DispatchRecord] {
        try await run { connection in
            try await connection.rows(
                """
                SELECT time, policy, agent_id, outcome, candidates, reason FROM dispatch_decisions
                WHERE order_id = \(order) ORDER BY id
                """, logger
            ).map { row in
                let (time, policy, agent, outcome, candidates, reason) = try row.decode(
                    (Int64, String, String?, String, ByteBuffer, String?).self)
                var decoded: [DispatchRecord.Candidate] = []
                do {
                    decoded = try JSONDecoder().decode(
                        [DispatchRecord.Candidate].self, from: Data(Bytea.read(candidates)))
                } catch {
                    logger.warning("Stored dispatch candidates do not decode", metadata: ["order": "\(order)"])
                }
                return DispatchRecord(
                    order: order, time: time, policy: policy, agent: agent, outcome: outcome, candidates: decoded,
                    reason: reason)
            }
        }
    }

    /// One `SELECT` on `events_unapplied`.
    package func unappliedEvents(limit: Int) async throws(StoreError) -> [DeviceEvent] {
        try await run { connection in
            try await connection.rows(
                """
                SELECT agent, seq, time, order_id, type, payload FROM events WHERE NOT applied
                ORDER BY time, agent, seq LIMIT \(Int64(limit))
                """, logger
            ).map { row in
                let (agent, seq, time, order, type, payload) = try row.decode(
                    (String, Int64, Int64, String, String, ByteBuffer).self)
                return DeviceEvent(
                    agent: agent, seq: seq, time: time, order: order, type: type, payload: Bytea.read(payload))
            }
        }
    }

    /// One READ COMMITTED transaction: the change (the order's row locked first, ``changeOrder(_:_:on:)``) and the
    /// event marked applied commit together, so an event is acted on once.
    package func applyDeviceEvent(agent: String, seq: Int64, change: OrderChange?, order: String)
        async throws(StoreError) -> (OrderRecord, OrderEvent)?
    {
        try await transaction { connection -> (OrderRecord, OrderEvent)? in
            var result: (OrderRecord, OrderEvent)?
            if let change, case .changed(let o, let e) = try await changeOrder(change, order, on: connection) {
                result = (o, e)
            }
            try await connection.query(
                "UPDATE events SET applied = true WHERE agent = \(agent) AND seq = \(seq)", logger: logger)
            return result
        }
    }

    /// One `INSERT … ON CONFLICT DO NOTHING` (its own transaction).
    package func raiseAlert(kind: String, agent: String?, order: String?, message: String) async throws(StoreError)
        -> Bool
    {
        try await run { connection in
            try await insertAlert(kind: kind, agent: agent, order: order, message: message, on: connection)
        }
    }

    /// One `SELECT`, newest first.
    package func alerts(limit: Int) async throws(StoreError) -> [OperatorAlert] {
        try await run { connection in
            try await connection.rows(
                "SELECT id, time, kind, agent_id, order_id, message FROM alerts ORDER BY id DESC LIMIT \(Int64(limit))",
                logger
            ).map { row in
                let (id, time, kind, agent, order, message) = try row.decode(
                    (Int64, Int64, String, String?, String?, String).self)
                return OperatorAlert(id: id, time: time, kind: kind, agent: agent, order: order, message: message)
            }
        }
    }

    /// Inserts an alert unless one of the same kind, agent and order exists (the `NULLS NOT DISTINCT` unique key
    /// decides, also between hubs: a concurrent insert of the same key waits and then inserts nothing); with
    /// `append`, an existing one gets `message` appended instead. True when a new alert was inserted.
    func insertAlert(
        kind: String, agent: String?, order: String?, message: String, append: Bool = false,
        on connection: PostgresSession
    ) async throws -> Bool {
        let inserted =
            try await connection.rows(
                """
                INSERT INTO alerts(time, kind, agent_id, order_id, message)
                VALUES(\(wallClockMilliseconds()), \(kind), \(agent), \(order), \(message))
                ON CONFLICT DO NOTHING RETURNING 1
                """, logger
            ).count == 1
        if inserted { return true }
        if append {
            try await connection.query(
                """
                UPDATE alerts SET message = message || '; then ' || \(message)
                WHERE kind = \(kind) AND agent_id IS NOT DISTINCT FROM \(agent)
                  AND order_id IS NOT DISTINCT FROM \(order)
                """, logger: logger)
        }
        return false
    }

    static let offerColumns = "f.id, f.order_id, f.agent_id, f.created, f.deadline, f.state, f.reason, f.sent, f.seen"

    /// Offers selected by `clause` over `offers f` (with `select: false`, `clause` is a whole statement returning
    /// ``offerColumns``).
    func readOffers(_ clause: PostgresQuery, select: Bool = true, on connection: PostgresSession) async throws
        -> [Offer]
    {
        var query = clause
        if select {
            query = PostgresQuery(unsafeSQL: "SELECT \(Self.offerColumns) FROM offers f " + clause.sql)
            query.binds = clause.binds
        }
        return try await connection.rows(query, logger).map { row in
            let (id, order, agent, created, deadline, state, reason, sent, seen) = try row.decode(
                (Int64, String, String, Int64, Int64, String, String?, Int64?, Int64?).self)
            guard let state = Offer.State(rawValue: state) else {
                throw StoreError(.corrupt, "offers \(id): state \(state)")
            }
            return Offer(
                id: id, order: order, agent: agent, created: created, deadline: deadline, state: state, reason: reason,
                sent: sent, seen: seen)
        }
    }
}

/// Offer delivery (``Offer/sent``, ``Offer/seen``) and orders waiting too long, for the dispatcher.
extension PostgresHubStore {
    /// One conditional `UPDATE`: the first time is kept.
    package func markOfferSent(order: String, agent: String, at time: Int64) async throws(StoreError) {
        try await run { connection in
            try await connection.query(
                """
                UPDATE offers SET sent = \(time)
                WHERE order_id = \(order) AND agent_id = \(agent) AND state = 'pending' AND sent IS NULL
                """, logger: logger)
        }
    }

    /// One `UPDATE` for all of them (the first time is kept).
    package func markOffersSent(_ offers: [(order: String, agent: String)], at time: Int64) async throws(StoreError) {
        guard !offers.isEmpty else { return }
        let orders = offers.map(\.order)
        let agents = offers.map(\.agent)
        try await run { connection in
            try await connection.query(
                """
                UPDATE offers SET sent = \(time)
                FROM unnest(\(orders)::text[], \(agents)::text[]) AS sent_to(order_id, agent_id)
                WHERE offers.order_id = sent_to.order_id AND offers.agent_id = sent_to.agent_id
                  AND offers.state = 'pending' AND offers.sent IS NULL
                """, logger: logger)
        }
    }

    /// One READ COMMITTED transaction of conditional `UPDATE`s, agents in id order (so two hubs' batches take the
    /// rows' locks in one order); an agent without such an offer changes nothing.
    package func recordSeen(_ agents: [String: Int64]) async throws(StoreError) {
        guard !agents.isEmpty else { return }
        try await transaction { connection in
            for (agent, time) in agents.sorted(by: { $0.key < $1.key }) {
                try await connection.query(
                    """
                    UPDATE offers SET seen = \(time)
                    WHERE agent_id = \(agent) AND state = 'pending' AND seen IS NULL AND sent IS NOT NULL
                      AND sent < \(time) AND deadline >= \(time)
                    """, logger: logger)
            }
        }
    }

    /// One `SELECT`.
    package func ordersWaiting(since cutoff: Int64, withoutAlert kind: String) async throws(StoreError)
        -> [(order: String, since: Int64)]
    {
        try await run { connection in
            try await connection.rows(
                """
                SELECT id, since FROM (
                    SELECT o.id,
                           COALESCE((SELECT max(e.time) FROM order_events e
                                     WHERE e.order_id = o.id AND e.action IN ('accept', 'unassign')), o.created) AS since
                    FROM orders o
                    WHERE o.status IN ('confirmed', 'preparing', 'ready_for_pickup') AND o.agent_id IS NULL
                      AND o.created <= \(cutoff)
                      AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.kind = \(kind) AND a.order_id = o.id)) w
                WHERE since <= \(cutoff)
                ORDER BY since, id
                """, logger
            ).map { row in
                let (order, since) = try row.decode((String, Int64).self)
                return (order: order, since: since)
            }
        }
    }
}
