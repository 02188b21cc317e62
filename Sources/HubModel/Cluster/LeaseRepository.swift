/// Named leases in the database: at most one holder at a time across every hub that shares it, for work that must
/// run exactly once across hubs (the dispatcher's rounds, lease `dispatch`). A lease is a row with its holder and
/// its expiry (Unix ms); a hub that stops renewing loses it when it expires, and a graceful stop gives it up at once.
///
/// The times are the callers' wall clocks: hubs on separate machines need synchronised clocks (NTP); a skew
/// shortens or lengthens the handover by as much, and never lets two holders both succeed at one instant (the
/// acquire is one conditional write, serialised by the database).
package protocol LeaseRepository: Sendable {
    /// Takes lease `name` for `holder` until `until` when nobody holds it, its holder's expiry is ≤ `now`, or
    /// `holder` already holds it (a renewal); returns whether `holder` holds it now. One conditional write (SQLite:
    /// one upsert statement, serialised by the write lock; PostgreSQL: `INSERT … ON CONFLICT DO UPDATE … WHERE`,
    /// which re-checks the condition on the row it locked, in READ COMMITTED).
    func acquireLease(_ name: String, holder: String, now: Int64, until: Int64) async throws(StoreError) -> Bool

    /// Gives lease `name` up when `holder` holds it (another hub may take it at once); a no-op otherwise.
    func releaseLease(_ name: String, holder: String) async throws(StoreError)

    /// Who holds lease `name` and until when (expired or not); nil when nobody ever took it or it was released.
    func leaseHolder(_ name: String) async throws(StoreError) -> (holder: String, until: Int64)?
}
