import DabbaCore
import HubModel
import Testing

/// Idempotency keys (``PaymentRepository/claimIdempotencyKey(scope:key:requestHash:now:ttl:)`` and its pair):
/// claimed once per scope, replayed after they finish, refused for another body, new again after their TTL.
extension HubStoreContract {
    package static func idempotency<Store: HubStore>(make: Make<Store>) async throws {
        try await with(make) { try await keysAreClaimedOnceReplayedAndExpire($0) }
    }

    static func keysAreClaimedOnceReplayedAndExpire(_ s: some HubStore) async throws {
        let now = wallClockMilliseconds()
        let day: Int64 = 86_400_000
        #expect(
            try await s.claimIdempotencyKey(scope: "user:1", key: "k", requestHash: "h1", now: now, ttl: day)
                == .claimed)
        // While the first runs, the same key is in progress (409), whatever the body.
        #expect(
            try await s.claimIdempotencyKey(scope: "user:1", key: "k", requestHash: "h1", now: now, ttl: day)
                == .inProgress)
        #expect(
            try await s.claimIdempotencyKey(scope: "user:1", key: "k", requestHash: "h2", now: now, ttl: day)
                == .mismatch)
        // Another caller's key of the same name is independent.
        #expect(
            try await s.claimIdempotencyKey(scope: "user:2", key: "k", requestHash: "h2", now: now, ttl: day)
                == .claimed)
        try await s.finishIdempotencyKey(scope: "user:1", key: "k", status: 201, body: Array("{}".utf8))
        #expect(
            try await s.claimIdempotencyKey(scope: "user:1", key: "k", requestHash: "h1", now: now + 1, ttl: day)
                == .replay(status: 201, body: Array("{}".utf8)))
        #expect(
            try await s.claimIdempotencyKey(scope: "user:1", key: "k", requestHash: "h2", now: now + 1, ttl: day)
                == .mismatch)
        // After the TTL the key is new again.
        #expect(
            try await s.claimIdempotencyKey(scope: "user:1", key: "k", requestHash: "h2", now: now + day, ttl: day)
                == .claimed)
        // A released claim (the request failed with a 5xx) can run again.
        try await s.releaseIdempotencyKey(scope: "user:2", key: "k")
        #expect(
            try await s.claimIdempotencyKey(scope: "user:2", key: "k", requestHash: "h3", now: now, ttl: day)
                == .claimed)
    }
}
