import AsyncHTTPClient
import DabbaCore
import DabbaProtocol
import HubModel
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Delivers order events to registered webhook endpoints, durably and at least once.
///
/// Reads the order audit trail (``OrderEventLog``) from a cursor kept in the database; each pass creates the
/// deliveries of matching endpoints and advances the cursor in one transaction, so a crash never loses or
/// duplicates a delivery. Woken by the in-process ``OrderEventBus`` and by a periodic poll (events other hubs
/// wrote, retries that fall due). Each due delivery is claimed with a lease (one hub sends it), POSTed with a
/// ``WebhookSignature``, and recorded: 2xx is delivered; anything else is retried with exponential backoff and
/// jitter (`webhook-retry-base`, `webhook-retry-max`) up to `webhook-max-attempts`, the schedule kept in the table so
/// a restart resumes it. At most `webhook-concurrency` requests are in flight, each bounded by `webhook-timeout`.
///
/// In order per order: an endpoint gets an order's events one at a time, in audit-trail order — a later event waits
/// while an earlier one to that endpoint is in flight or waiting for a retry, and goes once that one is delivered
/// or given up (see ``WebhookRepository/claimWebhookDeliveries(limit:owner:now:leaseUntil:)``). Other orders and
/// other endpoints are not held back. `Dabba-Event-Id` increases with each event of an order.
///
/// Request: `POST <url>` with `Content-Type: application/json`, `Dabba-Event-Id` (the order event id: the same on
/// every retry), `Dabba-Delivery-Id`, `Dabba-Attempt`, `Dabba-Signature`, and the body
/// `{"v":1,"delivery":<id>,"endpoint":"wh_…","event":<OrderEvent>}`. Redirects are not followed.
///
/// Egress: each attempt resolves the URL's host once and checks the addresses (``WebhookEgress``); a refused or
/// unresolvable destination is a failed attempt (retried like any other) and no request is made; otherwise the
/// request goes to the checked address.
package struct WebhookService: Service {
    /// Delivery settings (from ``HubConfiguration``).
    package struct Settings: Sendable {
        package var retryBase: Duration
        package var retryMax: Duration
        package var maxAttempts: Int
        package var timeout: Duration
        package var concurrency: Int
        package var pollInterval: Duration
        /// Where requests may go (`webhook-allow-hosts`).
        package var egress: WebhookEgress
        /// Events read per transaction.
        package var batch = 500

        package init(_ c: HubConfiguration) {
            retryBase = c.webhookRetryBase
            retryMax = c.webhookRetryMax
            maxAttempts = c.webhookMaxAttempts
            timeout = c.webhookTimeout
            concurrency = c.webhookConcurrency
            pollInterval = c.webhookPollInterval
            egress = WebhookEgress(allow: c.webhookAllowHosts)
        }

        /// How long a claim keeps other hubs away: the request's deadline plus a margin to record the outcome.
        var lease: Duration { timeout + .seconds(30) }
    }

    let repository: any WebhookRepository
    let bus: OrderEventBus?
    let settings: Settings
    let metrics: HubMetrics
    let logger: Logger
    /// This instance's lease owner name.
    let owner: String

    package init(
        settings: Settings, repository: any WebhookRepository, bus: OrderEventBus?, metrics: HubMetrics, logger: Logger
    ) {
        self.settings = settings
        self.repository = repository
        self.bus = bus
        self.metrics = metrics
        self.owner = "hub-" + AuthRandom.token(bytes: 8)
        var logger = logger
        logger[metadataKey: "webhook.owner"] = "\(owner)"
        self.logger = logger
    }

    package func run() async throws {
        let wakeup = WebhookWakeup()
        logger.info("Webhook delivery started", metadata: ["webhook.concurrency": "\(settings.concurrency)"])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { listeners in
                if let bus {
                    let events = bus.subscribe(buffer: 1)
                    listeners.addTask { for await _ in events { wakeup.signal() } }
                }
                // In-flight requests finish (bounded by their timeout) before the service returns.
                await withDiscardingTaskGroup { sends in await loop(wakeup: wakeup, sends: &sends) }
                listeners.cancelAll()
            }
        } onGracefulShutdown: {
            wakeup.signal()
        }
        logger.info("Webhook delivery stopped")
    }

    private func loop(wakeup: WebhookWakeup, sends: inout DiscardingTaskGroup) async {
        let inFlight = InFlight()
        let clock = ContinuousClock()
        var backlogRead: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var wait = settings.pollInterval
            do {
                _ = try await enqueuePending()
                // The backlog gauges, read at most once a second (the loop wakes at every finished delivery).
                if backlogRead.map({ clock.now - $0 >= .seconds(1) }) ?? true {
                    backlogRead = clock.now
                    // A gauge: failing to read it must not hold up the deliveries.
                    do { try await recordBacklog() } catch {
                        logger.warning("Cannot read the webhook backlog", metadata: ["error": "\(error)"])
                    }
                }
                let free = settings.concurrency - inFlight.count
                var claimedAll = false
                if free > 0 {
                    let now = wallClockMilliseconds()
                    let claimed = try await repository.claimWebhookDeliveries(
                        limit: free, owner: owner, now: now, leaseUntil: now + Self.milliseconds(settings.lease))
                    for attempt in claimed {
                        inFlight.add(1)
                        sends.addTask {
                            await deliver(attempt)
                            inFlight.add(-1)
                            wakeup.signal()
                        }
                    }
                    claimedAll = !claimed.isEmpty && claimed.count == free
                }
                if free > 0 && !claimedAll, let due = try await repository.nextWebhookDue() {
                    let until = Duration.milliseconds(max(due - wallClockMilliseconds(), 10))
                    wait = min(wait, until)
                }
            } catch {
                logger.error("Webhook pass failed", metadata: ["error": "\(error)"])
            }
            await wakeup.wait(timeout: wait)
        }
    }

    /// Moves new audit-trail events into deliveries until the log is read up; returns how many were created.
    @discardableResult
    func enqueuePending() async throws(StoreError) -> Int {
        var created = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let pass = try await repository.enqueueWebhookDeliveries(
                limit: settings.batch, now: wallClockMilliseconds())
            created += pass.deliveries
            if pass.deliveries > 0 {
                logger.debug(
                    "Webhook deliveries queued",
                    metadata: ["webhook.created": "\(pass.deliveries)", "webhook.cursor": "\(pass.cursor)"])
            }
            if pass.events < settings.batch { break }
        }
        return created
    }

    /// Sets `dabba_webhook_backlog` and `dabba_webhook_backlog_oldest_seconds` from the store.
    func recordBacklog() async throws(StoreError) {
        let backlog = try await repository.webhookBacklog()
        metrics.webhookBacklog.record(backlog.pending)
        metrics.webhookBacklogOldest.record(
            secondsBehind(since: backlog.oldestCreated, now: wallClockMilliseconds()))
    }

    /// One attempt: check the destination, send, then record the outcome (and the retry time) under this
    /// instance's lease.
    func deliver(_ attempt: WebhookAttempt) async {
        let outcome: WebhookAttemptOutcome
        do {
            let destination = try await settings.egress.destination(of: attempt.url)
            outcome = await send(attempt, to: destination)
        } catch {
            metrics.webhookRefused(error.code.rawValue).increment()
            outcome = failure(attempt, status: nil, error.message)
        }
        record(attempt, outcome)
        do {
            try await repository.finishWebhookAttempt(
                attempt, owner: owner, outcome: outcome, now: wallClockMilliseconds())
        } catch {
            // The lease runs out and the delivery is attempted again (at least once, never lost).
            logger.error("Recording a webhook attempt failed", metadata: ["error": "\(error)"])
        }
    }

    /// The request of one attempt, to the checked address: an HTTP client of its own whose only connection target
    /// is `destination.address` for the URL's host (the `Host` header, SNI and certificate checks keep the host).
    private func send(_ attempt: WebhookAttempt, to destination: WebhookEgress.Destination) async
        -> WebhookAttemptOutcome
    {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: Self.timeAmount(settings.timeout), read: Self.timeAmount(settings.timeout)))
        if IPAddress(destination.host) == nil {
            configuration.dnsOverride = [destination.host: destination.address.description]
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let outcome = await send(attempt, client: client)
        do { try await client.shutdown() } catch {
            logger.warning("HTTP client shutdown failed", metadata: ["error": "\(error)"])
        }
        return outcome
    }

    private func send(_ attempt: WebhookAttempt, client: HTTPClient) async -> WebhookAttemptOutcome {
        let body = Self.body(attempt)
        var request = HTTPClientRequest(url: attempt.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "dabba-hub")
        request.headers.add(name: "Dabba-Event-Id", value: "\(attempt.eventID)")
        request.headers.add(name: "Dabba-Delivery-Id", value: "\(attempt.deliveryID)")
        request.headers.add(name: "Dabba-Attempt", value: "\(attempt.attempt)")
        request.headers.add(
            name: WebhookSignature.header,
            value: WebhookSignature.sign(body: body, secret: attempt.secret, timestamp: wallClockMilliseconds() / 1000))
        request.body = .bytes(ByteBuffer(bytes: body))
        metrics.webhookAttempted.increment()
        do {
            let response = try await client.execute(
                request, timeout: Self.timeAmount(settings.timeout), logger: logger)
            // The answer's body is not used; read a little so the connection ends cleanly, and no more.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let code = Int(response.status.code)
            return (200..<300).contains(code)
                ? .delivered(status: code) : failure(attempt, status: code, "HTTP \(code)")
        } catch {
            return failure(attempt, status: nil, Self.describe(error))
        }
    }

    /// Counts and logs an attempt's outcome.
    private func record(_ attempt: WebhookAttempt, _ outcome: WebhookAttemptOutcome) {
        switch outcome {
        case .delivered: metrics.webhookSucceeded.increment()
        case .failed(_, let error, let retryAt):
            metrics.webhookFailed(retryAt == nil ? "gave_up" : "retry").increment()
            let level: Logger.Level = retryAt == nil ? .warning : .info
            logger.log(
                level: level, retryAt == nil ? "Webhook delivery given up" : "Webhook attempt failed",
                metadata: [
                    "webhook.endpoint": "\(attempt.endpointID)", "webhook.delivery": "\(attempt.deliveryID)",
                    "webhook.attempt": "\(attempt.attempt)", "error": "\(error)",
                ])
        }
    }

    private func failure(_ attempt: WebhookAttempt, status: Int?, _ error: String) -> WebhookAttemptOutcome {
        guard attempt.attempt < settings.maxAttempts else { return .failed(status: status, error: error, retryAt: nil) }
        let delay = Backoff.delay(
            afterFailures: attempt.attempt - 1, initial: settings.retryBase, maximum: settings.retryMax)
        return .failed(status: status, error: error, retryAt: wallClockMilliseconds() + Self.milliseconds(delay))
    }

    /// `{"v":1,"delivery":…,"endpoint":"…","event":{…}}`, the event as stored when the delivery was created.
    static func body(_ attempt: WebhookAttempt) -> [UInt8] {
        Array(#"{"v":1,"delivery":\#(attempt.deliveryID),"endpoint":"#.utf8) + PayloadCoding.encode(attempt.endpointID)
            + Array(#","event":"#.utf8) + attempt.event + Array("}".utf8)
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        return text.count > 300 ? String(text.prefix(300)) : text
    }

    static func timeAmount(_ d: Duration) -> TimeAmount { .milliseconds(milliseconds(d)) }

    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }
}

/// Requests in flight (shared with the tasks sending them).
private final class InFlight: Sendable {
    private let value = Atomic<Int>(0)
    var count: Int { value.load(ordering: .acquiring) }
    func add(_ delta: Int) { value.add(delta, ordering: .acquiringAndReleasing) }
}
