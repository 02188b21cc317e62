import DabbaCore
import DabbaProtocol
import Logging

/// The reader thread: connect with backoff, read lines, turn TPVs into one fix per epoch, watch for silence.
extension GPSReader {
    /// State that outlives a connection.
    private struct Progress {
        var filter: EpochFilter
        var backoff: Backoff
        var noFixReported = false
        var failedAttempts = 0
        var futureRefused = 0
        var lastFutureLog: Int64?
    }

    /// State of one connection.
    private struct Session {
        var silentSince: Int64
        /// When gpsd first sent a well-formed line on this connection.
        var healthySince: Int64?
        var backoffReset = false
        var malformedInARow = 0
    }

    /// A connection that has worked this long resets the backoff (a crash-looping gpsd still backs off).
    static let stableMilliseconds: Int64 = 5_000

    func threadMain() {
        logger.info("GPS reader started")
        GPSConnection.blockSIGPIPEOnThisThread()
        let connection = GPSConnection()
        var progress = Progress(
            filter: EpochFilter(settleMilliseconds: configuration.epochSettle.dabbaMilliseconds),
            backoff: Backoff(initial: configuration.initialBackoff, maximum: configuration.maxBackoff))
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
            let reason = read(connection, &progress)
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
    private func read(_ connection: GPSConnection, _ progress: inout Progress) -> String? {
        let noFixTimeout = configuration.noFixTimeout.dabbaMilliseconds
        var session = Session(silentSince: monotonicMilliseconds())
        while !isStopping {
            let now = monotonicMilliseconds()
            if !session.backoffReset, let since = session.healthySince, now - since >= Self.stableMilliseconds {
                session.backoffReset = true
                progress.backoff.reset()  // the next outage starts again from 250 ms
            }
            if let fix = progress.filter.due(now: now) {
                emit(fix, &progress)
                session.silentSince = now
            }
            if !progress.noFixReported && now - session.silentSince >= noFixTimeout {
                progress.noFixReported = true
                logger.warning("No GPS fix", metadata: ["gps.no_fix_ms": "\(now - session.silentSince)"])
                send(.noFix)
            }
            switch connection.readLine() {
            case .line(let bytes):
                let verdict = GPSLine.classify(bytes)
                if let reason = take(verdict, bytes, connection, &session, &progress, now: now) { return reason }
                continue  // drain every buffered line before waiting
            case .corrupt(let reason):
                if let reason = take(.malformed(reason), nil, connection, &session, &progress, now: now) {
                    return reason
                }
                continue
            case .failed(let reason, let malformed):
                if malformed { send(.malformed(reason)) }
                return reason
            case .pending:
                break
            }
            var wakeAt = now + 5_000
            if let deadline = progress.filter.deadline { wakeAt = min(wakeAt, deadline) }
            if !progress.noFixReported { wakeAt = min(wakeAt, session.silentSince + noFixTimeout) }
            if !session.backoffReset, let since = session.healthySince {
                wakeAt = min(wakeAt, since + Self.stableMilliseconds)
            }
            if case .signalled = wakeup.wait(socket: connection.socket, milliseconds: wakeAt - now) { return nil }
        }
        return nil
    }

    /// Acts on one line; returns a reason when the stream has become unusable.
    private func take(
        _ verdict: GPSLine, _ bytes: UnsafeBufferPointer<UInt8>?, _ connection: GPSConnection,
        _ session: inout Session, _ progress: inout Progress, now: Int64
    ) -> String? {
        switch verdict {
        case .blank:
            return nil
        case .malformed(let reason):
            session.malformedInARow += 1
            var metadata: Logger.Metadata = ["gps.reason": "\(reason)"]
            if let bytes { metadata["gps.line"] = "\(Self.excerpt(bytes))" }
            logger.warning("Malformed input from gpsd", metadata: metadata)
            send(.malformed(reason))
            return session.malformedInARow >= Self.malformedLimit ? "too much malformed input" : nil
        case .object(let className):
            session.malformedInARow = 0
            if session.healthySince == nil { session.healthySince = now }
            switch className {
            case "TPV":
                guard let fix = connection.fix() else { return nil }
                // gpsd reports a fix: the GPS is not silent, whatever the checks below decide.
                session.silentSince = now
                if let wall = configuration.synchronisedClock(),
                    fix.timeMilliseconds > wall + configuration.maxFutureSkew.dabbaMilliseconds
                {
                    refuseFutureFix(fix, wall: wall, &progress, now: now)
                    return nil
                }
                let resets = progress.filter.backwardResets
                let ready = progress.filter.offer(fix, now: now)
                if progress.filter.backwardResets != resets {
                    logger.notice(
                        "The receiver's clock went back; recording from its new time",
                        metadata: ["gps.time": "\(Timestamp.format(milliseconds: fix.timeMilliseconds))"])
                }
                for fix in ready { emit(fix, &progress) }
            case "VERSION":
                logger.info("gpsd version", metadata: ["gps.release": "\(connection.release ?? "unknown")"])
            case "ERROR":
                logger.warning("gpsd reported an error", metadata: ["gps.error": "\(connection.errorMessage ?? "")"])
            default:
                break
            }
            return nil
        }
    }

    /// A fix dated far ahead of a synchronised clock: reported (the consumer counts it), logged at most once a minute.
    private func refuseFutureFix(_ fix: GPSFix, wall: Int64, _ progress: inout Progress, now: Int64) {
        progress.noFixReported = false
        progress.futureRefused += 1
        if progress.lastFutureLog.map({ now - $0 >= 60_000 }) ?? true {
            progress.lastFutureLog = now
            logger.warning(
                "Refusing GPS fixes dated ahead of the synchronised system clock",
                metadata: [
                    "gps.time": "\(Timestamp.format(milliseconds: fix.timeMilliseconds))",
                    "gps.clock": "\(Timestamp.format(milliseconds: wall))", "gps.refused": "\(progress.futureRefused)",
                ])
        }
        send(.futureFix(fix))
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
