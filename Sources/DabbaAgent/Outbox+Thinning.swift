import DabbaSQLite

extension Outbox {
    /// Makes room when the outbox holds `maxRows`: among the oldest half of the stored fixes, every other one is
    /// deleted (the first of each pair is kept). The newest fix and all events are never thinned.
    /// Counted in `thinnedTotal`. Returns how many fixes went.
    @discardableResult
    func thin() throws(SQLiteError) -> Int {
        let candidates = max(2, options.maxRows / 2)
        var removed = 0
        try db.transaction { () throws(SQLiteError) in
            let select = try db.prepare(
                "SELECT seq FROM outbox WHERE kind = 0 AND seq < (SELECT max(seq) FROM outbox WHERE kind = 0) ORDER BY seq LIMIT ?"
            )
            try select.bind([.integer(Int64(candidates))])
            var victims: [Int64] = []
            var index = 0
            while try select.step() {
                if index % 2 == 1 { victims.append(select.int64(0)) }
                index += 1
            }
            let delete = try db.prepare("DELETE FROM outbox WHERE seq = ?")
            for seq in victims { try delete.run([.integer(seq)]) }
            removed = victims.count
            try writeMeta("thinned", thinnedTotal + Int64(removed))
        }
        depth -= removed
        thinnedTotal += Int64(removed)
        if removed > 0 {
            logger.warning(
                "Outbox full: thinned old fixes",
                metadata: ["outbox.thinned": "\(removed)", "outbox.thinned_total": "\(thinnedTotal)"])
        }
        return removed
    }
}
