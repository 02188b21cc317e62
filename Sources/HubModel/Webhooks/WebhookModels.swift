import DabbaProtocol

/// A registered receiver of order events: a URL, its shared secret, and which events it wants.
public struct WebhookEndpoint: Sendable, Equatable {
    /// `wh_…`, chosen by the hub.
    public var id: String
    /// An `http://` or `https://` URL the events are POSTed to.
    public var url: String
    /// The HMAC key of `Dabba-Signature` (shown to the caller once, when registered).
    public var secret: String
    /// Only this restaurant's orders; nil for every order (operators only).
    public var restaurant: String?
    /// Only events with these statuses; empty for all.
    public var statuses: Set<OrderStatus>
    /// The user who registered it.
    public var ownerID: Int64
    /// Creation time (UTC milliseconds).
    public var createdAt: Int64
    /// The newest audit-trail event id when it was registered: it receives only events after that.
    public var sinceEvent: Int64

    public init(
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
    public func matches(_ event: OrderEvent) -> Bool {
        event.id > sinceEvent && (restaurant == nil || restaurant == event.restaurant)
            && (statuses.isEmpty || statuses.contains(event.status))
    }
}

/// Where one delivery stands.
public enum WebhookDeliveryState: String, Sendable, Codable {
    /// Waiting for its first or next attempt (or being attempted).
    case pending
    /// A 2xx answer was received.
    case delivered
    /// Every attempt failed; no more are made.
    case failed
}

/// One event owed to one endpoint, and how its attempts went.
public struct WebhookDelivery: Sendable, Equatable {
    public var id: Int64
    public var endpointID: String
    /// The order event's id in the audit trail (also the `Dabba-Event-Id` header).
    public var eventID: Int64
    public var state: WebhookDeliveryState
    public var attempts: Int
    /// HTTP status of the last attempt, when it got an answer.
    public var lastStatus: Int?
    /// Why the last attempt failed (HTTP status or transport error).
    public var lastError: String?
    /// When the next attempt is due (UTC milliseconds); meaningful while pending.
    public var nextAttempt: Int64
    public var deliveredAt: Int64?
    public var createdAt: Int64

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
public struct WebhookAttempt: Sendable, Equatable {
    public var deliveryID: Int64
    public var endpointID: String
    public var eventID: Int64
    public var url: String
    public var secret: String
    /// The order event as JSON (``OrderEvent`` encoded when the delivery was created).
    public var event: [UInt8]
    /// This attempt's number, from 1.
    public var attempt: Int

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
public enum WebhookAttemptOutcome: Sendable, Equatable {
    /// 2xx.
    case delivered(status: Int)
    /// A non-2xx status or a transport error; retried at `retryAt`, or given up when nil.
    case failed(status: Int?, error: String, retryAt: Int64?)
}

/// What one pass over the audit trail did.
public struct WebhookEnqueueResult: Sendable, Equatable {
    /// Events read from the log in this pass.
    public var events: Int
    /// Delivery rows created.
    public var deliveries: Int
    /// The cursor after the pass (the last event id read).
    public var cursor: Int64

    package init(events: Int, deliveries: Int, cursor: Int64) {
        self.events = events
        self.deliveries = deliveries
        self.cursor = cursor
    }
}

/// A webhook failure with a stable code (like ``StoreError``): invalid registrations and the like.
public struct WebhookError: CodedError {
    public typealias Code = ErrorCode<WebhookError>
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ErrorCode<WebhookError> {
    public static var invalidURL: Self { "invalid_url" }
    public static var invalidStatus: Self { "invalid_status" }
    public static var invalidSignature: Self { "invalid_signature" }
    /// The URL's host resolves to an address webhooks may not reach (``WebhookEgress``).
    public static var forbiddenDestination: Self { "forbidden_destination" }
    /// The URL's host does not resolve.
    public static var unresolvable: Self { "unresolvable" }
}
