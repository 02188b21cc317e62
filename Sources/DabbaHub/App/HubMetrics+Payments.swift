import CoreMetrics
import Metrics

extension HubMetrics {
    /// Attempts of provider operations by kind (authorize, capture, void, refund) and result (succeeded, refused,
    /// retry, dead).
    package func paymentOperations(_ kind: String, _ result: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(
            label: "dabba_payment_operations_total", dimensions: [("kind", kind), ("result", result)],
            factory: factory)
    }
    /// Provider operations given up (dead letters), ever.
    package var paymentDeadLetters: CoreMetrics.Counter {
        CoreMetrics.Counter(label: "dabba_payment_dead_letters_total", factory: factory)
    }
    /// Dead letters waiting for an operator now (`GET /v1/payments/dead-letters`).
    package var paymentDeadLettersOpen: CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "dabba_payment_dead_letters", factory: factory)
    }
}
