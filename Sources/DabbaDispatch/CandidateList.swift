/// The best `limit` candidates seen so far, ordered by (cost, agent id); one per agent.
struct CandidateList {
    let limit: Int
    private(set) var items: [DispatchCandidate] = []

    init(limit: Int) {
        self.limit = max(0, limit)
        items.reserveCapacity(self.limit + 1)
    }

    /// Whether a candidate of this cost could enter (cheap test before building one).
    @inline(__always)
    func admits(cost: Double) -> Bool {
        items.count < limit || cost <= items[items.count - 1].cost
    }

    mutating func offer(_ candidate: DispatchCandidate) {
        guard limit > 0, admits(cost: candidate.cost) else { return }
        var index = items.count
        while index > 0, CandidateList.precedes(candidate, items[index - 1]) { index -= 1 }
        guard index < limit else { return }
        items.insert(candidate, at: index)
        if items.count > limit { items.removeLast() }
    }

    static func precedes(_ a: DispatchCandidate, _ b: DispatchCandidate) -> Bool {
        a.cost < b.cost || (a.cost == b.cost && a.agent < b.agent)
    }
}

/// Sorts orders first come first served: by `placedAt`, then id.
func firstComeFirstServed(_ orders: [DispatchOrder]) -> [Int] {
    orders.indices.sorted { a, b in
        let x = orders[a]
        let y = orders[b]
        return x.placedAt != y.placedAt ? x.placedAt < y.placedAt : x.id < y.id
    }
}
