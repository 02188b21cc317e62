import DabbaTestSupport
import HubModel
import HubPostgres
import Testing

/// What the contract suite cannot show with one store: two hubs (two stores, two connection pools) writing one
/// database at once keep the guarantees SQLite gives by serialising writers. Each assertion holds in every
/// interleaving, so the tests never depend on how the two hubs are scheduled; overlapping runs (repeated, in
/// opposite orders) are what would expose a missing lock or a deadlock that is not retried.
@Suite struct PostgresHubStoreConcurrencyTests {
    /// Two stores on one fresh database of a server started for the test.
    static func withTwoHubs(_ body: (PostgresHubStore, PostgresHubStore) async throws -> Void) async throws {
        try await PostgresServer.with { server in
            let database = try await server.createDatabase()
            let a = try await PostgresStoreTesting.open(server, database: database)
            let b = try await PostgresStoreTesting.open(server, database: database)
            do {
                try await body(a, b)
            } catch {
                await a.shutdown()
                await b.shutdown()
                throw error
            }
            await a.shutdown()
            await b.shutdown()
        }
    }

    static func fix(_ agent: String, _ seq: Int64, lat: Double = 22.3) -> StoredPosition {
        StoredPosition(agent: agent, seq: seq, time: 1_800_000_000_000 + seq * 1000, lat: lat, lon: 87.3, speed: 4)
    }

    @Test func twoHubsIngestingOneBacklogStoreEachFixOnceAndTheLatestNeverRegresses() async throws {
        try await Self.withTwoHubs { a, b in
            let agents = ["a-1", "a-2", "a-3", "a-4"]
            for agent in agents { _ = try await a.createAgent(id: agent, name: nil) }
            // Batches of 10 fixes mixing every agent; hub B gets them in the opposite order, each reversed, so the
            // two commits insert the same keys in opposite orders (the deadlock case, retried).
            let all = (1...50).flatMap { seq in agents.map { Self.fix($0, Int64(seq)) } }
            let batches = stride(from: 0, to: all.count, by: 10).map { Array(all[$0..<min($0 + 10, all.count)]) }
            let receipts = try await withThrowingTaskGroup(of: [StoreReceipt].self) { group in
                group.addTask { [batches] in
                    var receipts: [StoreReceipt] = []
                    for batch in batches { receipts.append(try await a.store(positions: batch, events: [])) }
                    return receipts
                }
                group.addTask { [batches] in
                    var receipts: [StoreReceipt] = []
                    for batch in batches.reversed() {
                        receipts.append(try await b.store(positions: batch.reversed(), events: []))
                    }
                    return receipts
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            // Every batch was acked whole by each hub, and nothing was taken for a conflict.
            #expect(receipts.count == 2 * batches.count)
            #expect(receipts.allSatisfy { $0.conflicts.isEmpty })
            #expect(receipts.reduce(0) { $0 + $1.committed.values.reduce(0) { $0 + $1.count } } == 2 * all.count)
            for agent in agents {
                #expect(try await a.positionCount(agent: agent) == 50)
                #expect(try await b.agent(id: agent)?.last == Self.fix(agent, 50))
                #expect(try await a.seqConflicts(agent: agent, after: nil, limit: 10).isEmpty)
            }
        }
    }

    @Test func aConflictingFixArrivingAtTwoHubsAtOnceIsRecordedOnce() async throws {
        try await Self.withTwoHubs { a, b in
            _ = try await a.createAgent(id: "a-1", name: nil)
            for seq in Int64(1)...20 {
                _ = try await a.store(positions: [Self.fix("a-1", seq)], events: [])
                let arriving = Self.fix("a-1", seq, lat: 23.0)
                async let viaA = a.store(positions: [arriving], events: [])
                async let viaB = b.store(positions: [arriving], events: [])
                let (receiptA, receiptB) = try await (viaA, viaB)
                #expect(receiptA.committed == ["a-1": [seq]] && receiptB.committed == ["a-1": [seq]])
                #expect(receiptA.conflicts.count + receiptB.conflicts.count == 1, "seq \(seq)")
            }
            let conflicts = try await b.seqConflicts(agent: "a-1", after: nil, limit: 100)
            #expect(conflicts.map(\.seq) == Array(1...20))
            #expect(conflicts.allSatisfy { $0.stored == .fix(Self.fix("a-1", $0.seq)) })
        }
    }

    @Test func aRefreshTokenPresentedToTwoHubsAtOnceRotatesOnce() async throws {
        try await Self.withTwoHubs { a, b in
            let user = try await a.createUser(
                email: "c@example.com", passwordHash: "hash", name: "C", role: .customer, agentID: nil)
            let now: Int64 = 1_800_000_000_000
            let hour: Int64 = 3_600_000
            for round in 1...20 {
                let (token, family) = ("t-\(round)", "f-\(round)")
                try await a.addRefreshToken(hash: token, userID: user.id, family: family, expires: now + hour, now: now)
                async let viaA = a.rotateRefreshToken(
                    hash: token, newHash: "\(token)-a", newExpires: now + hour, now: now + 1, maxLifetime: 24 * hour)
                async let viaB = b.rotateRefreshToken(
                    hash: token, newHash: "\(token)-b", newExpires: now + hour, now: now + 1, maxLifetime: 24 * hour)
                let outcomes = try await [viaA, viaB]
                // One hub rotated; the other saw the token used and ended the sign-in.
                #expect(outcomes.filter { $0 == .rotated(userID: user.id, family: family) }.count == 1, "\(outcomes)")
                #expect(outcomes.filter { $0 == .reused(family: family) }.count == 1, "\(outcomes)")
                #expect(try await b.sessionState(user: user.id, session: family)?.sessionEnded == true)
            }
        }
    }

    @Test func twoHubsAddingSectionsStopAtTheLimitTogether() async throws {
        try await Self.withTwoHubs { a, b in
            let owner = try await a.createUser(
                email: "r@example.com", passwordHash: "hash", name: "R", role: .restaurant, agentID: nil)
            _ = try await a.createRestaurant(
                Restaurant(
                    id: "r-1", name: "Kitchen", address: "1 Road", location: GeoPoint(lat: 22.3, lon: 87.3),
                    ownerUserID: owner.id, currency: "INR", hours: .always))
            let each: Int = MenuLimits.sectionsPerRestaurant / 2 + 10
            /// Adds `each` sections through `store`; returns how many were refused as over the limit.
            @Sendable func add(_ store: PostgresHubStore, _ prefix: String) async throws -> Int {
                var refused = 0
                for n in 0..<each {
                    do {
                        _ = try await store.createSection(
                            restaurant: "r-1", id: "\(prefix)-\(n)", name: "S", position: nil)
                    } catch {
                        guard error.code == .conflict else { throw error }
                        refused += 1
                    }
                }
                return refused
            }
            async let refusedA: Int = add(a, "a")
            async let refusedB: Int = add(b, "b")
            let refused: Int = try await refusedA + refusedB
            let expected: Int = 2 * each - MenuLimits.sectionsPerRestaurant
            #expect(refused == expected)
            let menu = try #require(try await b.menu(restaurant: "r-1"))
            #expect(menu.sections.count == MenuLimits.sectionsPerRestaurant)
        }
    }

    @Test func aRestaurantPlacedWhileAZoneIsCreatedGetsTheZoneThatServesIt() async throws {
        try await Self.withTwoHubs { a, b in
            let owner = try await a.createUser(
                email: "r@example.com", passwordHash: "hash", name: "R", role: .restaurant, agentID: nil)
            for round in 1...20 {
                // Each round in a place of its own, which only this round's zone serves.
                let lat: Double = 10.0 + Double(round)
                let square: [GeoPoint] = [
                    GeoPoint(lat: lat, lon: 87.0), GeoPoint(lat: lat, lon: 88.0), GeoPoint(lat: lat + 0.5, lon: 88.0),
                    GeoPoint(lat: lat + 0.5, lon: 87.0),
                ]
                let place: GeoPoint = GeoPoint(lat: lat + 0.25, lon: 87.5)
                let zone = Zone(
                    id: "z-\(round)", name: "Zone", polygon: square, deliveryFee: 40, currency: "INR", active: true)
                async let zoned = a.createZone(zone)
                async let placed = b.createRestaurant(
                    Restaurant(
                        id: "r-\(round)", name: "Kitchen", address: "1 Road", location: place,
                        ownerUserID: owner.id, currency: "INR", hours: .always))
                _ = try await (zoned, placed)
                // Whichever committed first, the restaurant ends in the zone: derived when it was placed after the
                // zone, re-derived by the zone's creation when placed before. (The window between the restaurant's
                // read of the zones and its insert is narrow: a run with createRestaurant's lock removed passed
                // here, so this guards the outcome rather than proving the lock; the sections test does fail
                // without its lock.)
                #expect(try await a.restaurant(id: "r-\(round)")?.zoneID == "z-\(round)", "round \(round)")
            }
        }
    }
}
