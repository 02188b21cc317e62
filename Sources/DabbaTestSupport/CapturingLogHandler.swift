import Logging
import Synchronization

/// A log handler that keeps every event, for tests that check what was logged (the GPS reader's reconnect
/// attempts, the store's stalled-operation warnings).
public struct CapturingLogHandler: LogHandler {
    public final class Store: Sendable {
        public let entries = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])
        public init() {}
        public func count(_ message: String) -> Int { entries.withLock { $0.filter { $0.message == message }.count } }
    }

    public let store: Store
    public var logLevel: Logger.Level = .debug
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(store: Store) { self.store = store }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        store.entries.withLock { $0.append((event.level, "\(event.message)", merged)) }
    }
}
