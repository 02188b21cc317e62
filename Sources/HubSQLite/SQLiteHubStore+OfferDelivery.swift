import DabbaCore
import DabbaSQLite
import HubModel

/// Offer delivery (``Offer/sent``, ``Offer/seen``) and orders waiting too long, for the dispatcher.
extension SQLiteHubStore {
    package func markOfferSent(order: String, agent: String, at time: Int64) throws(StoreError) {
        try run { () throws(SQLiteError) in
            try db.prepare(
                """
                UPDATE offers SET sent = ?3
                WHERE order_id = ?1 AND agent_id = ?2 AND state = 'pending' AND sent IS NULL
                """
            ).run([.text(order), .text(agent), .integer(time)])
        }
    }

    /// One transaction for all of them.
    package func markOffersSent(_ offers: [(order: String, agent: String)], at time: Int64) throws(StoreError) {
        guard !offers.isEmpty else { return }
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                let s = try db.prepare(
                    """
                    UPDATE offers SET sent = ?3
                    WHERE order_id = ?1 AND agent_id = ?2 AND state = 'pending' AND sent IS NULL
                    """)
                for offer in offers { try s.run([.text(offer.order), .text(offer.agent), .integer(time)]) }
            }
        }
    }

    /// One transaction for all of them; an agent without such an offer changes nothing (an index lookup on
    /// `offers_by_agent`), so ingest can call this after every batch.
    package func recordSeen(_ agents: [String: Int64]) throws(StoreError) {
        guard !agents.isEmpty else { return }
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                let s = try db.prepare(
                    """
                    UPDATE offers SET seen = ?2
                    WHERE agent_id = ?1 AND state = 'pending' AND seen IS NULL AND sent IS NOT NULL AND sent < ?2
                      AND deadline >= ?2
                    """)
                for (agent, time) in agents.sorted(by: { $0.key < $1.key }) {
                    try s.run([.text(agent), .integer(time)])
                }
            }
        }
    }

    package func ordersWaiting(since cutoff: Int64, withoutAlert kind: String) throws(StoreError)
        -> [(order: String, since: Int64)]
    {
        try run { () throws(SQLiteError) -> [(order: String, since: Int64)] in
            let s = try db.prepare(
                """
                SELECT id, since FROM (
                    SELECT o.id,
                           COALESCE((SELECT MAX(e.time) FROM order_events e
                                     WHERE e.order_id = o.id AND e.action IN ('accept', 'unassign')), o.created) AS since
                    FROM orders o
                    WHERE o.status IN ('confirmed', 'preparing', 'ready_for_pickup') AND o.agent_id IS NULL
                      AND o.created <= ?1
                      AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.kind = ?2 AND a.order_id = o.id))
                WHERE since <= ?1
                ORDER BY since, id
                """)
            defer { s.reset() }
            try s.bind([.integer(cutoff), .text(kind)])
            var waiting: [(order: String, since: Int64)] = []
            while try s.step() { waiting.append((s.text(0) ?? "", s.int64(1))) }
            return waiting
        }
    }
}
