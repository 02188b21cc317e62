import CoreMetrics
import Metrics
import Prometheus

/// The hub's metrics, on a registry of its own (so several hubs in one test process do not share counters);
/// `GET /metrics` renders `registry` in the Prometheus text format.
package final class HubMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    package let factory: PrometheusMetricsFactory

    package init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// Fixes and events committed by ingest.
    package var ingestCommitted: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_ingest_committed_total", factory: factory)
    }
    /// Messages refused by ingest, by reason.
    package func ingestRejected(_ reason: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_ingest_rejected_total", dimensions: [("reason", reason)], factory: factory)
    }
    /// Acks that could not be handed to the broker (no session): the agent sends those rows again after its ack
    /// timeout and they are acked then (stored once: the seq is already committed).
    package var ingestAckFailures: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_ingest_ack_publish_failures_total", factory: factory)
    }
    /// Fixes and events that arrived under a seq already stored with a different payload (kept in `seq_conflicts`).
    package var ingestSeqConflicts: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_ingest_seq_conflicts_total", factory: factory)
    }
    /// Seconds between a fix's time and its commit.
    package var fixAge: CoreMetrics.Recorder {
        CoreMetrics.Recorder(label: "dabba_ingest_fix_age_seconds", aggregate: true, factory: factory)
    }
    /// Seconds one group commit took.
    package var commitLatency: CoreMetrics.Timer {
        CoreMetrics.Timer(label: "dabba_ingest_commit_seconds", factory: factory)
    }
    /// WebSockets closed because their peer did not answer a ping within the keepalive period.
    package var webSocketPingTimeouts: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_ws_ping_timeouts_total", factory: factory)
    }
    /// Open WebSocket connections, by feed.
    package func sockets(_ feed: String) -> Meter {
        Meter(label: "dabba_ws_connections", dimensions: [("feed", feed)], factory: factory)
    }
    /// Agents whose last state says online.
    package var agentsOnline: CoreMetrics.Gauge { CoreMetrics.Gauge(label: "dabba_agents_online", factory: factory) }

    /// Webhook requests sent (every attempt).
    package var webhookAttempted: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_webhook_deliveries_attempted_total", factory: factory)
    }
    /// Webhook attempts answered with 2xx (the delivery is done).
    package var webhookSucceeded: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_webhook_deliveries_succeeded_total", factory: factory)
    }
    /// Webhook attempts that failed (non-2xx or transport error), by whether the delivery will be retried
    /// (`outcome` retry) or was given up (`outcome` gave_up).
    package func webhookFailed(_ outcome: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(
            label: "dabba_webhook_deliveries_failed_total", dimensions: [("outcome", outcome)], factory: factory)
    }

    /// Webhook attempts not made because of their destination (``WebhookEgress``), by reason
    /// (`forbidden_destination`, `unresolvable`); each is also a failed attempt.
    package func webhookRefused(_ reason: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(
            label: "dabba_webhook_destinations_refused_total", dimensions: [("reason", reason)], factory: factory)
    }
    /// Requests refused by the abuse limits (429), by action (login, register, refresh, ticket) and scope
    /// (account, address).
    package func rateLimited(action: String, scope: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(
            label: "dabba_rate_limited_total", dimensions: [("action", action), ("scope", scope)], factory: factory)
    }

    /// Dispatch decisions by outcome (offered, queued, accepted, rejected, expired, withdrawn).
    package func dispatchDecisions(_ outcome: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(
            label: "dabba_dispatch_decisions_total", dimensions: [("outcome", outcome)], factory: factory)
    }
    /// Agents' device events by result (applied, ignored).
    package func deviceEvents(_ result: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_device_events_total", dimensions: [("result", result)], factory: factory)
    }
    /// Task messages (offer, assigned, cancelled, sync) the MQTT client refused to publish (no broker session, …), by
    /// kind; offers and assignments are sent again when the hub reconnects, and unsent offers by the next round.
    package func taskPublishFailures(_ kind: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(
            label: "dabba_task_publish_failures_total", dimensions: [("kind", kind)], factory: factory)
    }
    /// Committed order events the MQTT client refused to publish on `dabba/v1/orders/{order}/status` (no broker
    /// session, …): other hubs' customers and operators miss that live update (the order itself, its trail, this
    /// hub's feeds and webhooks have it).
    package var orderStatusPublishFailures: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_order_status_publish_failures_total", factory: factory)
    }
    /// Task messages sent again (after the hub (re)connected to the broker, or an offer never sent), by kind.
    package func tasksResent(_ kind: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_tasks_resent_total", dimensions: [("kind", kind)], factory: factory)
    }
    /// Background checkpoints of the SQLite store's WAL (`dabba-hub serve` on SQLite), by result: `copied` (all
    /// of the WAL is in the database file), `partial` (a read still needing older pages, or a busy lock, kept
    /// part of it back for the next one), `failed` (logged; the store's automatic checkpoint still bounds the WAL).
    package func sqliteCheckpoints(_ result: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_sqlite_checkpoints_total", dimensions: [("result", result)], factory: factory)
    }
    /// The SQLite store's WAL frames (pages of ~4 kB) at the last background checkpoint.
    package var sqliteWALFrames: CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "dabba_sqlite_wal_frames", factory: factory)
    }
    /// Seconds a dispatch round took, `phase` one of ``DispatchRoundTimings/Phase`` or `total`.
    package func dispatchRound(_ phase: String) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: "dabba_dispatch_round_seconds", dimensions: [("phase", phase)], factory: factory)
    }
    /// 1 on the hub holding the dispatcher's lease (``DispatchLease``), 0 on the others (absent without
    /// `ingest-group`).
    package var dispatchLeaseHeld: CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "dabba_dispatch_lease_held", factory: factory)
    }
    /// Asks for (or releases of) the dispatcher's lease that failed in the database.
    package var dispatchLeaseErrors: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_dispatch_lease_errors_total", factory: factory)
    }
    /// Operator alerts raised, by kind.
    package func alerts(_ kind: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_alerts_total", dimensions: [("kind", kind)], factory: factory)
    }

    /// Positions and states this hub relayed to the other hubs (``ClusterRelay``).
    package var relayPublished: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_relay_published_total", factory: factory)
    }
    /// Relay messages the MQTT client refused (no broker session): other hubs' feeds miss those updates until each
    /// agent's next one.
    package var relayPublishFailures: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_relay_publish_failures_total", factory: factory)
    }
    /// Positions and states received from other hubs (before the feed drops any older than what it shows).
    package var relayReceived: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_relay_received_total", factory: factory)
    }
    /// Relay messages refused, by reason (`too_large`, `not_json`, `invalid_field`, `unsupported_version`,
    /// `agent_mismatch`, `unknown_topic`).
    package func relayRejected(_ reason: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_relay_rejected_total", dimensions: [("reason", reason)], factory: factory)
    }

    /// The Prometheus text exposition.
    package func render() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
package typealias CoreMetricsTimer = CoreMetrics.Timer
