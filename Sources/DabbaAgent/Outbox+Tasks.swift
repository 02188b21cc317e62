import DabbaProtocol
import DabbaSQLite

/// A task (an order offered or assigned to this agent) as the device keeps it.
public struct AgentTask: Codable, Sendable, Equatable {
    /// offered, assigned, accepted, rejected, picked_up, delivered, cancelled.
    public var status: String
    public var task: TaskMessage
}

extension Outbox {
    /// Stores or updates a task received from the hub.
    func saveTask(_ task: AgentTask, now: Int64) throws(SQLiteError) {
        try db.prepare(
            """
            INSERT INTO tasks(order_id, status, payload, updated) VALUES(?, ?, ?, ?)
            ON CONFLICT(order_id) DO UPDATE SET status = excluded.status, payload = excluded.payload,
                updated = excluded.updated
            """
        ).run([.text(task.task.order), .text(task.status), .blob(PayloadCoding.encode(task.task)), .integer(now)])
    }

    /// The task for `order`, nil when unknown.
    func task(order: String) throws(SQLiteError) -> AgentTask? {
        let statement = try db.prepare("SELECT status, payload FROM tasks WHERE order_id = ?")
        defer { statement.reset() }  // a statement left on its row would hold a read open (see newestRow)
        try statement.bind([.text(order)])
        guard try statement.step(), let status = statement.text(0),
            let message = try? PayloadCoding.decode(TaskMessage.self, from: statement.bytes(1))
        else { return nil }
        return AgentTask(status: status, task: message)
    }

    /// Tasks not finished (delivered, rejected or cancelled ones from the last day are listed too), newest first.
    func tasks(since: Int64) throws(SQLiteError) -> [AgentTask] {
        let statement = try db.prepare(
            """
            SELECT status, payload FROM tasks
            WHERE status NOT IN ('delivered', 'rejected', 'cancelled') OR updated >= ?
            ORDER BY updated DESC LIMIT 100
            """)
        try statement.bind([.integer(since)])
        var result: [AgentTask] = []
        while try statement.step() {
            if let status = statement.text(0),
                let message = try? PayloadCoding.decode(TaskMessage.self, from: statement.bytes(1))
            {
                result.append(AgentTask(status: status, task: message))
            }
        }
        return result
    }

    /// Commits the task's status change (when `task` is given) and the event (with the next seq) in one
    /// transaction.
    func recordAction(task: (order: String, status: String)?, time: Int64, makeEvent: (Int64) -> [UInt8])
        throws(SQLiteError) -> Row
    {
        let seq = try nextSeq()  // events reserve their seqs like fixes
        let row = Row(seq: seq, kind: .event, time: time, payload: makeEvent(seq))
        try db.transaction { () throws(SQLiteError) in
            if let task {
                try db.prepare("UPDATE tasks SET status = ?, updated = ? WHERE order_id = ?")
                    .run([.text(task.status), .integer(time), .text(task.order)])
            }
            try db.prepare("INSERT INTO outbox(seq, kind, time, payload) VALUES(?, ?, ?, ?)")
                .run([.integer(seq), .integer(Kind.event.rawValue), .integer(time), .blob(row.payload)])
            try writeMeta("last_seq", seq)
        }
        lastSeq = seq
        depth += 1
        return row
    }
}
