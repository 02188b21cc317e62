import CoreMetrics
import DabbaCore
import Metrics

/// How far behind the hub's background work is: what the operator's health panel and the shipped alert rules
/// (`hub/deploy/`) read. Gauges, set by the service that does the work each time it looks; with several hubs, read
/// them with `max` across hubs (a hub that does not hold the dispatcher's lease reports an empty dispatch queue).
extension HubMetrics {
    /// Orders waiting for an agent (confirmed, no agent, no pending offer) when the dispatcher's last round ended.
    package var dispatchQueue: CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "dabba_dispatch_queue_orders", factory: factory)
    }
    /// Seconds since the oldest order in the dispatch queue was placed (0 when the queue is empty).
    package var dispatchQueueOldest: CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "dabba_dispatch_queue_oldest_seconds", factory: factory)
    }
    /// Webhook deliveries pending (due, waiting for a retry, or in flight), at the delivery service's last look.
    package var webhookBacklog: CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "dabba_webhook_backlog", factory: factory)
    }
    /// Seconds since the oldest pending webhook delivery was created (0 when none is pending).
    package var webhookBacklogOldest: CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "dabba_webhook_backlog_oldest_seconds", factory: factory)
    }
    /// How far behind the payment reactor's last pass began: seconds from the oldest order event it found waiting
    /// to the pass's start (0 when it had read the audit trail up). The reactor passes at every order event and at
    /// least every poll interval, so a healthy hub reads ~0.
    package var paymentReactorLag: CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "dabba_payment_reactor_lag_seconds", factory: factory)
    }
    /// When the payment reactor last finished a pass (Unix seconds): `time() - this` growing means it is stuck.
    package var paymentReactorLastPass: CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "dabba_payment_reactor_last_pass_timestamp_seconds", factory: factory)
    }
}

/// Seconds from `since` to `now` (milliseconds, UTC) for a gauge: 0 when `since` is nil or in the future, and no
/// overflow whatever the stored value (checked subtraction; a difference beyond Int64 reads as 0).
func secondsBehind(since: Int64?, now: Int64) -> Double {
    guard let since, let difference = Checked.subtract(now, since), difference > 0 else { return 0 }
    return Double(difference) / 1000
}
