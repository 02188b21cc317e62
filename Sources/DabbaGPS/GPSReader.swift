import DabbaCore
import Logging
import ServiceLifecycle
import Synchronization

/// Reads fixes from gpsd through libgps on a dedicated thread and reports them as ``GPSEvent``s.
///
/// - One fix per epoch: gpsd may report an epoch twice with the same fix time; the reader emits exactly one
///   ``GPSEvent/fix(_:)`` per distinct fix time, in strictly increasing time order, preferring the better TPV
///   (see ``GPSReaderConfiguration/epochSettle``). TPVs at or before the last emitted time are dropped, also across
///   reconnects, until five newer epochs in a row say the receiver's clock went back (then it follows).
/// - Time: a fix dated more than ``GPSReaderConfiguration/maxFutureSkew`` ahead of a synchronised system clock is
///   refused as ``GPSEvent/futureFix(_:)``. Any TPV with a fix counts as "gpsd has a fix" for ``GPSEvent/noFix``.
/// - Resilience: gpsd absent, going away or restarting → ``GPSEvent/disconnected(reason:)`` (only ever after a
///   ``GPSEvent/connected``) and reconnects with jittered exponential backoff (250 ms … `maxBackoff`, reset once a
///   connection has worked for 5 s, so a crash-looping gpsd is not hammered); bad input → ``GPSEvent/malformed(_:)``, and a reconnect
///   when the stream is unusable (a line longer than libgps's 20 KB buffer, or 10 bad lines in a row).
/// - Cost: one thread that sleeps in `poll(2)` on the gpsd socket and a self-pipe; no busy loop, no Foundation.
///   (Not `gps_waiting`: it returns true at once while a partial line is buffered, so waiting on it spins — measured
///   with libgps 3.22: 6.2 million wake-ups in 3 s when gpsd stalls mid-line. The socket is non-blocking, so
///   `gps_read` never blocks either.)
///
/// Usage: start `run()` in a task (or a service), consume ``events``, stop with `shutdown()` or task cancellation.
public final class GPSReader: Sendable {
    struct State {
        var started = false
        var stopping = false
        var connected = false
    }

    let configuration: GPSReaderConfiguration
    let logger: Logger
    let state = Mutex(State())
    let wakeup = Wakeup()
    let continuation: AsyncStream<GPSEvent>.Continuation
    /// Bad lines in a row after which the stream counts as unusable and the reader reconnects.
    static let malformedLimit = 10
    /// Events buffered for a slow consumer before the oldest are dropped (about an hour of 1 Hz fixes).
    static let eventBuffer = 4096

    /// The reader's events, in order. Single consumer; finishes when `run()` returns.
    public let events: AsyncStream<GPSEvent>

    /// Creates a reader; nothing happens until `run()`.
    public init(configuration: GPSReaderConfiguration, logger: Logger) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "gps.host"] = "\(configuration.host)"
        logger[metadataKey: "gps.port"] = "\(configuration.port)"
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(
            of: GPSEvent.self, bufferingPolicy: .bufferingNewest(Self.eventBuffer))
    }

    /// True while a gpsd connection is open and watching.
    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Runs the reader thread (`gps_open`, `gps_stream`, then `poll` + `gps_read`) until cancelled, `shutdown()` or
    /// a `ServiceGroup`'s graceful shutdown; reconnects with backoff when gpsd is absent, goes away or restarts; then
    /// sends `?WATCH={"enable":false}`, closes, finishes ``events`` and returns. The blocking work happens on a
    /// dedicated thread, never on the cooperative pool. Call once; a second call returns at once.
    ///
    /// Returns promptly after `shutdown()` or cancellation, except while `gps_open` is blocked connecting to an
    /// unreachable remote host (libgps connects with a blocking `connect`; loopback never blocks).
    public func run() async {
        let first = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else {
            logger.warning("GPS reader run() called more than once; ignoring")
            return
        }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    NativeThread.detach(name: "dabba-gps") {
                        self.threadMain()
                        done.resume()
                    }
                }
            } onCancel: {
                self.shutdown()
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
    }

    /// Asks `run()` to stop: wakes the reader thread at once. Safe to call any time, from anywhere, repeatedly.
    public func shutdown() {
        state.withLock { $0.stopping = true }
        wakeup.signal()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    func setConnected(_ connected: Bool) { state.withLock { $0.connected = connected } }

    func send(_ event: GPSEvent) {
        if case .dropped = continuation.yield(event) {
            logger.warning("GPS event consumer is behind; dropped the oldest event")
        }
    }
}
