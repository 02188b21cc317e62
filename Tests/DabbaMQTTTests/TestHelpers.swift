import DabbaMQTT
import DabbaTestSupport
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Quiet unless DABBA_TEST_LOG is set (then everything at debug goes to stderr).
func testLogger(_ label: String) -> Logger {
    guard getenv("DABBA_TEST_LOG") != nil else {
        return Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
    }
    var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = .debug
    return logger
}

/// A client under test with its `run()` task and a recorder of every event it emits.
final class RunningClient: Sendable {
    let client: MQTTClient
    let runTask: Task<Void, any Error>
    private let recorded = Mutex<[MQTTEvent]>([])
    private let streamFinished = Atomic<Bool>(false)
    private let consumer = Mutex<Task<Void, Never>?>(nil)

    init(_ configuration: MQTTConfiguration, subscriptions: [String] = [], setup: (MQTTClient) -> Void = { _ in }) {
        let client = MQTTClient(configuration: configuration, logger: testLogger(configuration.clientID))
        for filter in subscriptions { client.subscribe(filter, qos: .atLeastOnce) }
        setup(client)
        self.client = client
        runTask = Task { try await client.run() }
        let consumer = Task { [self] in
            for await event in client.events { self.recorded.withLock { $0.append(event) } }
            self.streamFinished.store(true, ordering: .sequentiallyConsistent)
        }
        self.consumer.withLock { $0 = consumer }
    }

    var events: [MQTTEvent] { recorded.withLock { $0 } }
    var isStreamFinished: Bool { streamFinished.load(ordering: .sequentiallyConsistent) }

    /// Waits (bounded) until `condition` holds for the events so far.
    func waitForEvents(timeout: Duration = TestDeadline.generous, _ condition: @escaping ([MQTTEvent]) -> Bool) async
        -> Bool
    {
        await eventually(timeout: timeout, interval: .milliseconds(10)) { condition(self.events) }
    }

    func waitConnected(session: Int = 1, timeout: Duration = TestDeadline.generous) async -> Bool {
        await waitForEvents(timeout: timeout) { $0.contains { $0.connectedSession == session } }
    }

    /// Shuts down and waits for `run()` and the event stream to end.
    func stop() async {
        client.shutdown()
        _ = try? await runTask.value
        await consumer.withLock { $0 }?.value
    }
}

extension MQTTEvent {
    var connectedSession: Int? { if case .connected(let session) = self { session } else { nil } }
    var disconnectReason: String? { if case .disconnected(let reason) = self { reason } else { nil } }
    var publishedID: MQTTMessageID? { if case .published(let mid) = self { mid } else { nil } }
    var failedPublish: (mid: MQTTMessageID, reason: String)? {
        if case .publishFailed(let mid, let reason) = self { (mid, reason) } else { nil }
    }
    var message: MQTTMessage? { if case .message(let message) = self { message } else { nil } }
}

func uniqueID(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }
