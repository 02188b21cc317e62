/// Webhook endpoints, their deliveries, and the cursor over the order audit trail. Implemented by the store; every
/// method is one transaction, so several hubs on one database never lose or duplicate a delivery.
package protocol WebhookRepository: OrderEventLog {
    /// Stores a new endpoint; its `sinceEvent` is set to the newest event id at that moment. Returns it as stored.
    /// `conflict` when its owner already has `maxPerOwner` endpoints (counted in the same transaction).
    func createWebhookEndpoint(_ endpoint: WebhookEndpoint, maxPerOwner: Int) async throws(StoreError)
        -> WebhookEndpoint
    func webhookEndpoint(id: String) async throws(StoreError) -> WebhookEndpoint?
    /// Every endpoint, oldest first.
    func webhookEndpoints() async throws(StoreError) -> [WebhookEndpoint]
    /// Deletes an endpoint and its deliveries; false when there was none.
    func deleteWebhookEndpoint(id: String) async throws(StoreError) -> Bool

    /// Reads up to `limit` events after the stored cursor and, in the same transaction, creates a delivery (due
    /// `now`) for every matching endpoint that is entitled to the event and advances the cursor past them.
    ///
    /// Entitled: a global endpoint, or one registered by an operator, or by the user who owns the restaurant now —
    /// and its owner is not disabled. So the previous owner of a restaurant stops receiving its events once it
    /// changes hands (and pending deliveries to such endpoints are given up when next claimed).
    func enqueueWebhookDeliveries(limit: Int, now: Int64) async throws(StoreError) -> WebhookEnqueueResult
    /// Gives up (`failed`, saying why) the pending deliveries of endpoints no longer entitled, then claims up to
    /// `limit` pending deliveries that are due and not leased (`next_attempt <= now`, lease expired):
    /// each is leased to `owner` until `leaseUntil` and its attempt count incremented, one conditional UPDATE per
    /// row, so a row is claimed by one hub only. In order per (endpoint, order): a delivery is not claimed while an
    /// earlier event of the same order to the same endpoint is still pending (in flight or waiting for a retry);
    /// once that one is delivered or given up, the next becomes claimable. Other orders and endpoints are not held
    /// back. The check is inside the claim's transaction, so it holds across hubs too.
    func claimWebhookDeliveries(limit: Int, owner: String, now: Int64, leaseUntil: Int64)
        async throws(StoreError) -> [WebhookAttempt]
    /// Records the outcome of a claimed attempt and releases the lease; ignored when `owner` no longer holds it.
    func finishWebhookAttempt(_ attempt: WebhookAttempt, owner: String, outcome: WebhookAttemptOutcome, now: Int64)
        async throws(StoreError)
    /// When the next pending delivery becomes claimable (its due time or its lease's end), nil when none is pending.
    /// Deliveries held back behind an earlier one of their order are left out (they follow when it finishes).
    func nextWebhookDue() async throws(StoreError) -> Int64?
    /// The backlog: how many deliveries are pending (due, waiting for a retry, held behind an earlier one of their
    /// order, or in flight) and when the oldest of them was created (nil when none is pending).
    func webhookBacklog() async throws(StoreError) -> WebhookBacklog
    /// Deliveries of one endpoint, newest first, at most `limit`, with ids below `before` when given.
    func webhookDeliveries(endpoint: String, before: Int64?, limit: Int) async throws(StoreError) -> [WebhookDelivery]
}

extension WebhookRepository {
    /// Stores a new endpoint without a per-owner bound (operators' tools and tests).
    package func createWebhookEndpoint(_ endpoint: WebhookEndpoint) async throws(StoreError) -> WebhookEndpoint {
        try await createWebhookEndpoint(endpoint, maxPerOwner: Int.max)
    }
}

/// Pending webhook deliveries (``WebhookRepository/webhookBacklog()``): `dabba_webhook_backlog` and
/// `dabba_webhook_backlog_oldest_seconds` in `/metrics`.
package struct WebhookBacklog: Sendable, Equatable {
    package var pending: Int
    /// When the oldest pending delivery was created (UTC, milliseconds).
    package var oldestCreated: Int64?

    package init(pending: Int, oldestCreated: Int64?) {
        self.pending = pending
        self.oldestCreated = oldestCreated
    }
}
