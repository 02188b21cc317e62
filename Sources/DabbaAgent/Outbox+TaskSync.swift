import DabbaProtocol
import DabbaSQLite

extension Outbox {
    /// Task statuses the hub may still take back (the order is not finished on the device).
    static let openTaskStatuses = ["offered", "assigned", "accepted", "picked_up"]

    /// Order id and status of every open task (offered, assigned, accepted or picked up).
    func openTasks() throws(SQLiteError) -> [(order: String, status: String)] {
        let statement = try db.prepare(
            "SELECT order_id, status FROM tasks WHERE status IN ('offered', 'assigned', 'accepted', 'picked_up')")
        defer { statement.reset() }  // never leave a read open (see newestRow)
        var result: [(order: String, status: String)] = []
        while try statement.step() {
            if let order = statement.text(0), let status = statement.text(1) { result.append((order, status)) }
        }
        return result
    }

    /// Applies one task sync in a single transaction: stores `saves` (tasks the hub listed that apply), and marks
    /// `withdrawn` tasks cancelled, each only while it is still in the status it was read in. Returns the orders
    /// actually withdrawn.
    func applySync(saves: [AgentTask], withdrawn: [(order: String, status: String)], now: Int64)
        throws(SQLiteError) -> [String]
    {
        try db.transaction { () throws(SQLiteError) -> [String] in
            for task in saves { try saveTask(task, now: now) }
            var cancelled: [String] = []
            let update = try db.prepare(
                "UPDATE tasks SET status = 'cancelled', updated = ? WHERE order_id = ? AND status = ?")
            for task in withdrawn {
                try update.run([.integer(now), .text(task.order), .text(task.status)])
                if db.changes > 0 { cancelled.append(task.order) }
            }
            return cancelled
        }
    }
}
