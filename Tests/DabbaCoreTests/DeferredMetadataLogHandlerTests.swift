import DabbaCore
import Logging
import Synchronization
import Testing

/// The daemons' log handler writes what `StreamLogHandler` writes: the same line, the logger's metadata as set at
/// the time of the message (keys set after an earlier message included), the message's own metadata merged in, and
/// nothing below the level.
struct DeferredMetadataLogHandlerTests {
    final class Lines: TextOutputStream, @unchecked Sendable {
        private let lines = Mutex<[String]>([])
        func write(_ string: String) { lines.withLock { $0.append(string) } }
        var all: [String] { lines.withLock { $0 } }
    }

    func loggers(level: Logger.Level) -> (deferred: Logger, stream: Logger, Lines, Lines) {
        let deferredLines = Lines()
        let streamLines = Lines()
        var inner = StreamLogHandler(label: "t", stream: deferredLines, metadataProvider: nil)
        inner.logLevel = level
        var plain = StreamLogHandler(label: "t", stream: streamLines, metadataProvider: nil)
        plain.logLevel = level
        return (
            Logger(label: "t", factory: { _ in DeferredMetadataLogHandler(inner) }),
            Logger(label: "t", factory: { _ in plain }), deferredLines, streamLines
        )
    }

    /// A line without its timestamp (the two handlers write theirs at different instants).
    func body(_ line: String) -> Substring { line.drop { $0 != " " } }

    @Test func writesWhatStreamLogHandlerWritesWithTheMetadataSetAtTheTimeOfEachMessage() {
        var (deferred, stream, deferredLines, streamLines) = loggers(level: .info)
        func exercise(_ logger: inout Logger) {
            logger[metadataKey: "request.id"] = "r-1"
            logger.info("first")
            logger[metadataKey: "user.id"] = "42"
            logger.debug("below the level")
            logger.notice("second", metadata: ["order": "o-9"])
            logger[metadataKey: "request.id"] = nil
            logger.warning("third")
        }
        exercise(&deferred)
        exercise(&stream)
        deferred.logLevel = .debug
        deferred.debug("now shown")
        #expect(deferredLines.all.count == 4 && streamLines.all.count == 3)
        #expect(deferredLines.all.prefix(3).map(body) == streamLines.all.map(body))
        #expect(deferredLines.all[0].contains("request.id=r-1") && deferredLines.all[0].contains(" first"))
        #expect(deferredLines.all[1].contains("order=o-9") && deferredLines.all[1].contains("user.id=42"))
        #expect(!deferredLines.all[2].contains("request.id"))
        #expect(deferredLines.all[3].contains("now shown"))
        #expect(deferred[metadataKey: "user.id"] == "42")
    }
}
