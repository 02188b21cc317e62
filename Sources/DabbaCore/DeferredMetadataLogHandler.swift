import Logging

/// swift-log's `StreamLogHandler` (standard error, the same lines), with its metadata rendered when a message is
/// written instead of whenever a key is set.
///
/// `StreamLogHandler` renders all of its metadata into a string every time one key changes. The hub sets two keys
/// on every HTTP request's logger (`request.id`, then `user.id` once the token is checked) and logs nothing for
/// most requests: rendering them was 5.6 % of the hub's CPU in a `perf` profile of `GET /v1/orders/{id}` under
/// `wrk`. Here setting a key only stores it; a message that passes the level renders the metadata it carries.
public struct DeferredMetadataLogHandler: LogHandler {
    private var stream: StreamLogHandler
    public var metadata: Logger.Metadata = [:]

    /// Writes to `stream` (the daemons use `StreamLogHandler.standardError(label:)`).
    public init(_ stream: StreamLogHandler) {
        self.stream = stream
        metadata = stream.metadata
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var handler = stream
        handler.metadata = metadata
        handler.log(event: event)
    }
}
