import HubModel
import Testing

/// ``LeaseRepository``: one holder at a time; renewed by its holder, taken by another only once expired, given up
/// by its holder alone; leases are independent by name.
extension HubStoreContract {
    package static func leases<Store: LeaseRepository>(make: Make<Store>) async throws {
        try await with(make) { try await aLeaseHasOneHolderUntilItExpiresOrIsReleased($0) }
    }

    static func aLeaseHasOneHolderUntilItExpiresOrIsReleased(_ store: some LeaseRepository) async throws {
        let t: Int64 = 1_800_000_000_000
        #expect(try await store.leaseHolder("dispatch") == nil)
        #expect(try await store.acquireLease("dispatch", holder: "hub-a", now: t, until: t + 10_000))
        // Held: another hub is refused, up to and excluding the expiry; the holder renews.
        #expect(try await store.acquireLease("dispatch", holder: "hub-b", now: t + 9_999, until: t + 20_000) == false)
        #expect(try await store.acquireLease("dispatch", holder: "hub-a", now: t + 5_000, until: t + 15_000))
        #expect(try await store.acquireLease("dispatch", holder: "hub-b", now: t + 14_999, until: t + 25_000) == false)
        #expect(try await store.leaseHolder("dispatch")! == ("hub-a", t + 15_000))
        // Another name is another lease.
        #expect(try await store.acquireLease("other", holder: "hub-b", now: t, until: t + 1_000))
        // Expired (at its expiry): the next hub to ask takes it, and the old holder cannot renew.
        #expect(try await store.acquireLease("dispatch", holder: "hub-b", now: t + 15_000, until: t + 25_000))
        #expect(try await store.acquireLease("dispatch", holder: "hub-a", now: t + 15_001, until: t + 25_001) == false)
        #expect(try await store.leaseHolder("dispatch")! == ("hub-b", t + 25_000))
        // Only the holder releases it; then anyone takes it at once.
        try await store.releaseLease("dispatch", holder: "hub-a")
        #expect(try await store.leaseHolder("dispatch")?.holder == "hub-b")
        try await store.releaseLease("dispatch", holder: "hub-b")
        #expect(try await store.leaseHolder("dispatch") == nil)
        #expect(try await store.acquireLease("dispatch", holder: "hub-a", now: t + 16_000, until: t + 26_000))
        #expect(try await store.leaseHolder("other")?.holder == "hub-b")
        // Many hubs racing for a free lease: exactly one gets it.
        try await store.releaseLease("dispatch", holder: "hub-a")
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for n in 0..<8 {
                group.addTask {
                    try await store.acquireLease("dispatch", holder: "hub-\(n)", now: t + 17_000, until: t + 27_000)
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
    }
}
