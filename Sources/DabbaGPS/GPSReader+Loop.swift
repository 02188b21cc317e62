import DabbaCore
import Logging

/// The reader thread: connect with backoff, read lines, turn TPVs into one fix per epoch, watch for silence.
extension GPSReader {
    /// Per-run state that outlives a connection.
    private struct Progress {
        var filter: EpochFilter
        var backoff: Backoff
        var noFixReported = false
        var failedAttempts = 0
    }

    func threadMain() {
        logger.info("GPS reader started")
        let connection = GPSConnection()
        var progress = Progress(
            filter: EpochFilter(settleMilliseconds: configuration.epochSettle.dabbaMilliseconds),
            backoff: Backoff(initial: .milliseconds(250), maximum: configuration.maxBackoff))
        while !isStopping {
            do {
                try connection.open(host: configuration.host, port: configuration.port)
            } catch {
                progress.failedAttempts += 1
                let delay = progress.backoff.next()
                let metadata: Logger.Metadata = [
                    "gps.attempt": "\(progress.failedAttempts)", "gps.error": "\(error)",
                    "gps.retry_in_ms": "\(delay.dabbaMilliseconds)",
                ]
                if progress.failedAttempts == 1 {
                    logger.warning("Cannot connect to gpsd; retrying with backoff", metadata: metadata)
                } else {
                    logger.debug("Cannot connect to gpsd", metadata: metadata)
                }
                _ = wakeup.wait(socket: -1, milliseconds: delay.dabbaMilliseconds)
                continue
            }
            progress.failedAttempts = 0
            setConnected(true)
            logger.info("Connected to gpsd")
            send(.connected)
            let reason = session(connection, &progress)
            if let fix = progress.filter.flush() { emit(fix, &progress) }
            connection.close(unwatch: reason == nil)
            setConnected(false)
            guard let reason else { break }
            logger.warning("Lost gpsd connection; reconnecting", metadata: ["gps.reason": "\(reason)"])
            send(.disconnected(reason: reason))
            _ = wakeup.wait(socket: -1, milliseconds: progress.backoff.next().dabbaMilliseconds)
        }
        continuation.finish()
        logger.info("GPS reader stopped")
    }

    /// Reads one connection until it fails (returns the reason) or the reader stops (returns nil).
    private func session(_ connection: GPSConnection, _ progress: inout Progress) -> String? {
        let noFixTimeout = configuration.noFixTimeout.dabbaMilliseconds
        var silentSince = monotonicMilliseconds()
        var healthy = false
        var malformedInARow = 0
        while !isStopping {
            let now = monotonicMilliseconds()
            if let fix = progress.filter.due(now: now) {
                emit(fix, &progress)
                silentSince = now
            }
            if !progress.noFixReported && now - silentSince >= noFixTimeout {
                progress.noFixReported = true
                logger.warning("No GPS fix", metadata: ["gps.no_fix_ms": "\(now - silentSince)"])
                send(.noFix)
            }
            switch connection.readLine() {
            case .line(let bytes):
                switch GPSLine.classify(bytes) {
                case .blank:
                    break
                case .malformed(let reason):
                    malformedInARow += 1
                    logger.warning(
                        "Malformed input from gpsd",
                        metadata: ["gps.reason": "\(reason)", "gps.line": "\(Self.excerpt(bytes))"])
                    send(.malformed(reason))
                    if malformedInARow >= Self.malformedLimit { return "too much malformed input" }
                case .object(let className):
                    malformedInARow = 0
                    if !healthy {
                        healthy = true
                        progress.backoff.reset()  // a real gpsd answered: the next outage starts from 250 ms
                    }
                    if handle(className, connection, &progress, now: now) { silentSince = now }
                }
                continue  // drain every buffered line before waiting
            case .pending:
                break
            case .failed(let reason, let malformed):
                if malformed { send(.malformed(reason)) }
                return reason
            }
            var wakeAt = now + 5_000
            if let deadline = progress.filter.deadline { wakeAt = min(wakeAt, deadline) }
            if !progress.noFixReported { wakeAt = min(wakeAt, silentSince + noFixTimeout) }
            if case .signalled = wakeup.wait(socket: connection.socket, milliseconds: wakeAt - now) { return nil }
        }
        return nil
    }

    /// Handles a well-formed object; returns true when it emitted a fix.
    private func handle(
        _ className: String, _ connection: GPSConnection, _ progress: inout Progress, now: Int64
    ) -> Bool {
        switch className {
        case "TPV":
            guard let fix = connection.fix() else { return false }
            let ready = progress.filter.offer(fix, now: now)
            for fix in ready { emit(fix, &progress) }
            return !ready.isEmpty
        case "VERSION":
            logger.info("gpsd version", metadata: ["gps.release": "\(connection.release ?? "unknown")"])
        case "ERROR":
            logger.warning("gpsd reported an error", metadata: ["gps.error": "\(connection.errorMessage ?? "")"])
        default:
            break
        }
        return false
    }

    private func emit(_ fix: GPSFix, _ progress: inout Progress) {
        progress.noFixReported = false
        send(.fix(fix))
    }

    /// The start of a bad line, for the log (bounded; invalid UTF-8 repaired).
    static func excerpt(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes.prefix(120)), as: UTF8.self)
    }
}
