import DabbaCore
import DabbaTestSupport
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP server on a loopback port that records every request and answers 500 to the first `failures`, and
/// to the next `failingOrders[order]` requests whose event belongs to that order.
final class WebhookReceiver: Sendable {
    struct Received: Sendable {
        var headers: [String: String]
        var body: [UInt8]
        var status: Int
        /// When the request arrived (its body read), on the monotonic clock.
        var at: ContinuousClock.Instant
        /// When the request arrived, in Unix milliseconds (to compare with times the hub stores).
        var wallMilliseconds: Int64
    }
    private struct State {
        var failuresLeft: Int
        var failingOrders: [String: Int]
        var received: [Received] = []
    }
    private final class Recorder: Sendable {
        let state: Mutex<State>
        init(failures: Int, failingOrders: [String: Int]) {
            state = Mutex(State(failuresLeft: failures, failingOrders: failingOrders))
        }
    }

    let port: Int
    private let recorder: Recorder
    private let runner: ServiceRunner

    /// Starts listening (returns once the port accepts connections).
    init(failures: Int = 0, failingOrders: [String: Int] = [:]) async throws {
        let port = FreePort.next()
        let recorder = Recorder(failures: failures, failingOrders: failingOrders)
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }  // lower-case names
            headers["host"] = request.head.authority  // HTTP/1's Host, which swift-http-types keeps apart
            let order = WebhookTests.orderOf(Array(buffer: body))
            let status: HTTPResponse.Status = recorder.state.withLock { s in
                var fail = s.failuresLeft > 0
                if fail {
                    s.failuresLeft -= 1
                } else if let left = s.failingOrders[order], left > 0 {
                    s.failingOrders[order] = left - 1
                    fail = true
                }
                let status: HTTPResponse.Status = fail ? .internalServerError : .ok
                s.received.append(
                    Received(
                        headers: headers, body: Array(buffer: body), status: Int(status.code), at: .now,
                        wallMilliseconds: wallClockMilliseconds()))
                return status
            }
            return Response(status: status)
        }
        var logger = Logger(label: "webhook-receiver")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        self.port = port
        self.recorder = recorder
        runner = ServiceRunner([app], logger: logger)
        try await FreePort.waitUntilListening(port)
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }
    var received: [Received] { recorder.state.withLock { $0.received } }
    var succeeded: [Received] { received.filter { $0.status == 200 } }

    /// Answers 500 to the next `count` requests.
    func failNext(_ count: Int) { recorder.state.withLock { $0.failuresLeft = count } }

    /// Answers 500 to the next `count` requests for `order`'s events (0: accepts them again).
    func failOrder(_ order: String, next count: Int) { recorder.state.withLock { $0.failingOrders[order] = count } }

    func stop() async { await runner.stop() }
}

/// Services run in a `ServiceGroup` of their own (no signal handling), stopped by a graceful shutdown.
final class ServiceRunner: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, Never>

    init(_ services: [any Service], logger: Logger) {
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [], logger: logger))
        self.group = group
        task = Task { try? await group.run() }
    }

    /// Triggers a graceful shutdown and waits until every service returned.
    func stop() async {
        await group.triggerGracefulShutdown()
        await task.value
    }
}
