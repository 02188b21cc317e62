import HubModel
import Testing

/// ``AgentRepository`` and ``PositionRepository``: agents, their fixes stored idempotently on `(agent, seq)`, seq
/// conflicts kept, history pages, pruning.
extension HubStoreContract {
    package static func agents<Store: AgentRepository & PositionRepository>(make: Make<Store>) async throws {
        try await with(make) { try await agentsAreCreatedOnceAndTheirProfileChanges($0) }
        try await with(make) { try await fixesAreStoredOnceAndTheLatestNeverRegresses($0) }
        try await with(make) { try await aSeqReusedWithAnotherFixIsKeptOnceAsAConflict($0) }
        try await with(make) { try await historyPagesInFixTimeOrderAndPruningKeepsTheLatest($0) }
    }

    static func fix(_ agent: String, _ seq: Int64, at time: Int64, lat: Double = 22.3) -> StoredPosition {
        StoredPosition(agent: agent, seq: seq, time: time, lat: lat, lon: 87.3, speed: 4)
    }

    static func agentsAreCreatedOnceAndTheirProfileChanges(_ store: some AgentRepository & PositionRepository)
        async throws
    {
        let created = try await store.createAgent(id: "a-2", name: "Ravi")
        #expect(created.id == "a-2" && created.name == "Ravi" && created.vehicle == nil && created.last == nil)
        _ = try await store.createAgent(id: "a-1", name: nil)
        await expect(.conflict) { () throws(StoreError) in _ = try await store.createAgent(id: "a-1", name: "Again") }
        #expect(try await store.agents().map(\.id) == ["a-1", "a-2"])
        #expect(try await store.agent(id: "a-1")?.name == nil)
        #expect(try await store.agent(id: "a-404") == nil)
        // nil leaves a value as it is.
        try await store.updateAgentProfile(id: "a-2", name: nil, vehicle: "scooter KA-01")
        let updated = try #require(try await store.agent(id: "a-2"))
        #expect(updated.name == "Ravi" && updated.vehicle == "scooter KA-01")
        await expect(.notFound) { () throws(StoreError) in
            try await store.updateAgentProfile(id: "a-404", name: "X", vehicle: nil)
        }
    }

    static func fixesAreStoredOnceAndTheLatestNeverRegresses(_ store: some AgentRepository & PositionRepository)
        async throws
    {
        _ = try await store.createAgent(id: "a-1", name: nil)
        let t: Int64 = 1_800_000_000_000
        let batch = [fix("a-1", 1, at: t), fix("a-1", 2, at: t + 1000), fix("a-1", 3, at: t + 2000)]
        let first = try await store.store(positions: batch, events: [])
        #expect(first.committed == ["a-1": [1, 2, 3]] && first.conflicts.isEmpty)
        // The QoS 1 redelivery: acked again, stored once.
        let again = try await store.store(positions: batch, events: [])
        #expect(again.committed == ["a-1": [1, 2, 3]] && again.conflicts.isEmpty)
        #expect(try await store.positionCount(agent: "a-1") == 3)
        #expect(try await store.agent(id: "a-1")?.last == batch[2])
        // A backlog fix older than the latest is stored but does not become the latest.
        _ = try await store.store(positions: [fix("a-1", 4, at: t - 60_000)], events: [])
        #expect(try await store.positionCount(agent: "a-1") == 4)
        #expect(try await store.agent(id: "a-1")?.last == batch[2])
        // Events share the idempotency of `(agent, seq)`.
        let event = DeviceEvent(agent: "a-1", seq: 5, time: t + 3000, order: "o-1", type: "accepted", payload: [])
        #expect(try await store.store(positions: [], events: [event]).committed == ["a-1": [5]])
        #expect(try await store.store(positions: [], events: [event]).committed == ["a-1": [5]])
    }

    static func aSeqReusedWithAnotherFixIsKeptOnceAsAConflict(_ store: some AgentRepository & PositionRepository)
        async throws
    {
        _ = try await store.createAgent(id: "a-1", name: nil)
        let t: Int64 = 1_800_000_000_000
        let kept = fix("a-1", 7, at: t)
        _ = try await store.store(positions: [kept], events: [])
        let arriving = fix("a-1", 7, at: t + 5000, lat: 23.0)
        let receipt = try await store.store(positions: [arriving], events: [])
        #expect(receipt.committed == ["a-1": [7]])
        #expect(receipt.conflicts == [SeqConflict.Key(agent: "a-1", seq: 7, kind: .fix)])
        // The same conflicting fix again is acked but not recorded twice.
        #expect(try await store.store(positions: [arriving], events: []).conflicts.isEmpty)
        let conflicts = try await store.seqConflicts(agent: "a-1", after: nil, limit: 10)
        #expect(conflicts.count == 1)
        let conflict = try #require(conflicts.first)
        #expect(conflict.seq == 7 && conflict.kind == .fix)
        #expect(conflict.stored == .fix(kept) && conflict.arriving == .fix(arriving))
        #expect(try await store.seqConflicts(agent: "a-1", after: conflict.id, limit: 10).isEmpty)
        // The first fix stays the stored one.
        #expect(try await store.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 10) == [kept])
    }

    static func historyPagesInFixTimeOrderAndPruningKeepsTheLatest(_ store: some AgentRepository & PositionRepository)
        async throws
    {
        _ = try await store.createAgent(id: "a-1", name: nil)
        _ = try await store.createAgent(id: "a-2", name: nil)
        let t: Int64 = 1_800_000_000_000
        // Stored out of order, two at the same time (ordered by seq).
        let fixes = [
            fix("a-1", 3, at: t + 2000), fix("a-1", 1, at: t), fix("a-1", 2, at: t + 1000), fix("a-1", 4, at: t + 1000),
        ]
        _ = try await store.store(positions: fixes + [fix("a-2", 1, at: t)], events: [])
        var seen: [Int64] = []
        var after: (time: Int64, seq: Int64)?
        while true {
            let page = try await store.positions(agent: "a-1", since: nil, until: nil, after: after, limit: 3)
            seen += page.map(\.seq)
            guard page.count == 3, let last = page.last else { break }
            after = (last.time, last.seq)
        }
        #expect(seen == [1, 2, 4, 3])
        let window = try await store.positions(agent: "a-1", since: t + 1000, until: t + 2000, after: nil, limit: 10)
        #expect(window.map(\.seq) == [2, 4])
        // Everything before t + 1500 goes, except each agent's latest fix (a-2's only one).
        #expect(try await store.prunePositions(before: t + 1500, limit: 100) == 3)
        #expect(
            try await store.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 10).map(\.seq) == [3])
        #expect(try await store.positionCount(agent: "a-2") == 1)
        #expect(try await store.prunePositions(before: t + 1500, limit: 100) == 0)
    }
}
