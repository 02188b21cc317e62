import DabbaProtocol

/// A registered receiver of order events: a URL, its shared secret, and which events it wants.
package struct WebhookEndpoint: Sendable, Equatable {
    /// `wh_…`, chosen by the hub.
    package var id: String
    /// An `http://` or `https://` URL the events are POSTed to.
    package var url: String
    /// The HMAC key of `Dabba-Signature` (shown to the caller once, when registered).
    package var secret: String
    /// Only this restaurant's orders; nil for every order (operators only).
    package var restaurant: String?
    /// Only events with these statuses; empty for all.
    package var statuses: Set<OrderStatus>
    /// The user who registered it.
    package var ownerID: Int64
    /// Creation time (UTC milliseconds).
    package var createdAt: Int64
    /// The newest audit-trail event id when it was registered: it receives only events after that.
    package var sinceEvent: Int64

    package init(
        id: String, url: String, secret: String, restaurant: String?, statuses: Set<OrderStatus>, ownerID: Int64,
        createdAt: Int64, sinceEvent: Int64 = 0
    ) {
        self.id = id
        self.url = url
        self.secret = secret
        self.restaurant = restaurant
        self.statuses = statuses
        self.ownerID = ownerID
        self.createdAt = createdAt
        self.sinceEvent = sinceEvent
    }

    /// True when `event` is for this endpoint: its restaurant (or any, for a global one), a wanted status, and
    /// recorded after the endpoint was registered.
    package func matches(_ event: OrderEvent) -> Bool {
        event.id > sinceEvent && (restaurant == nil || restaurant == event.restaurant)
            && (statuses.isEmpty || statuses.contains(event.status))
    }
}

/// Where one delivery stands.
package enum WebhookDeliveryState: String, Sendable, Codable {
    /// Waiting for its first or next attempt (or being attempted).
    case pending
    /// A 2xx answer was received.
    case delivered
    /// Every attempt failed; no more are made.
    case failed
}

/// One event owed to one endpoint, and how its attempts went.
package struct WebhookDelivery: Sendable, Equatable {
    package var id: Int64
    package var endpointID: String
    /// The order event's id in the audit trail (also the `Dabba-Event-Id` header).
    package var eventID: Int64
    package var state: WebhookDeliveryState
    package var attempts: Int
    /// HTTP status of the last attempt, when it got an answer.
    package var lastStatus: Int?
    /// Why the last attempt failed (HTTP status or transport error).
    package var lastError: String?
    /// When the next attempt is due (UTC milliseconds); meaningful while pending.
    package var nextAttempt: Int64
    package var deliveredAt: Int64?
    package var createdAt: Int64

    package init(
        id: Int64, endpointID: String, eventID: Int64, state: WebhookDeliveryState, attempts: Int,
        lastStatus: Int? = nil, lastError: String? = nil, nextAttempt: Int64, deliveredAt: Int64? = nil,
        createdAt: Int64
    ) {
        self.id = id
        self.endpointID = endpointID
        self.eventID = eventID
        self.state = state
        self.attempts = attempts
        self.lastStatus = lastStatus
        self.lastError = lastError
        self.nextAttempt = nextAttempt
        self.deliveredAt = deliveredAt
        self.createdAt = createdAt
    }
}

/// A delivery claimed for one attempt: everything needed to send it. The claim (a lease) keeps other hubs away
/// until it expires or the outcome is recorded.
package struct WebhookAttempt: Sendable, Equatable {
    package var deliveryID: Int64
    package var endpointID: String
    package var eventID: Int64
    package var url: String
    package var secret: String
    /// The order event as JSON (``OrderEvent`` encoded when the delivery was created).
    package var event: [UInt8]
    /// This attempt's number, from 1.
    package var attempt: Int

    package init(
        deliveryID: Int64, endpointID: String, eventID: Int64, url: String, secret: String, event: [UInt8], attempt: Int
    ) {
        self.deliveryID = deliveryID
        self.endpointID = endpointID
        self.eventID = eventID
        self.url = url
        self.secret = secret
        self.event = event
        self.attempt = attempt
    }
}

/// The outcome of one attempt, recorded by ``WebhookRepository/finishWebhookAttempt(_:owner:outcome:now:)``.
package enum WebhookAttemptOutcome: Sendable, Equatable {
    /// 2xx.
    case delivered(status: Int)
    /// A non-2xx status or a transport error; retried at `retryAt`, or given up when nil.
    case failed(status: Int?, error: String, retryAt: Int64?)
}

/// What one pass over the audit trail did.
package struct WebhookEnqueueResult: Sendable, Equatable {
    /// Events read from the log in this pass.
    package var events: Int
    /// Delivery rows created.
    package var deliveries: Int
    /// The cursor after the pass (the last event id read).
    package var cursor: Int64

    package init(events: Int, deliveries: Int, cursor: Int64) {
        self.events = events
        self.deliveries = deliveries
        self.cursor = cursor
    }
}

/// A webhook failure with a stable code (like ``StoreError``): invalid registrations and the like.
package struct WebhookError: CodedError {
    package typealias Code = ErrorCode<WebhookError>
    package var code: Code
    package var message: String
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ErrorCode<WebhookError> {
    package static var invalidURL: Self { "invalid_url" }
    package static var invalidStatus: Self { "invalid_status" }
    package static var invalidSignature: Self { "invalid_signature" }
    /// The URL's host resolves to an address webhooks may not reach (``WebhookEgress``).
    package static var forbiddenDestination: Self { "forbidden_destination" }
    /// The URL's host does not resolve.
    package static var unresolvable: Self { "unresolvable" }
}
