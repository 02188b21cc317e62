#if canImport(Glibc)
    import Glibc
#endif
import Dispatch
import DabbaCore
import DabbaProtocol
import Logging
import ServiceLifecycle
import Synchronization

/// The local control socket: a Unix stream socket, one JSON request line in, one JSON response line out.
///
/// Served by a dedicated thread with blocking, time-limited I/O; each request is answered by an async handler (the
/// engine) while the thread waits, so nothing blocks Swift's cooperative pool.
public final class ControlServer: Service, Sendable {
    public let path: String
    private let handler: @Sendable (ControlRequest) async -> ControlResponse
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)
    /// A pipe whose read end the serving thread polls beside the socket: stopping writes a byte, so the thread
    /// sleeps in `poll(2)` until a client or the stop arrives instead of waking up several times a second.
    private let wake: (read: Int32, write: Int32)
    private let finished = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let listening: Int32

    /// Largest request accepted.
    public static let maxRequestBytes = 64 * 1024
    /// How long one request may take in the engine (an action is one SQLite commit; a salvage or a slow SD card
    /// can make it slow) before the server answers "unavailable". The CLI waits longer than this
    /// (``ControlClient/defaultTimeoutSeconds``), so it always hears the server's answer.
    public static let actionTimeoutSeconds = 20

    /// Binds the socket now (replacing a stale one), so a failure is reported before the daemon says READY.
    public init(path: String, logger: Logger, handler: @escaping @Sendable (ControlRequest) async -> ControlResponse)
        throws(ControlError)
    {
        self.path = path
        self.handler = handler
        self.logger = logger
        // A socket that still answers belongs to a running daemon: never take it over.
        if (try? ControlClient.send(ControlRequest(cmd: "status"), path: path, timeoutSeconds: 1)) != nil {
            throw ControlError("socket", "another dabba-agent is answering on \(path)")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError("socket", "socket(): \(String(cString: strerror(errno)))") }
        unlink(path)
        guard UnixSocketAddress.withAddress(path, { bind(fd, $0, $1) }) == 0, listen(fd, 16) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw ControlError("socket", "cannot listen on \(path): \(message)")
        }
        chmod(path, 0o660)
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw ControlError("socket", "pipe(): \(message)")
        }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        wake = (ends[0], ends[1])
        listening = fd
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    /// Serves until cancelled or, under a ServiceGroup, until graceful shutdown.
    public func run() async {
        await withTaskCancellationOrGracefulShutdownHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                finished.withLock { $0 = continuation }
                NativeThread.detach(name: "dabba-control") { [self] in
                    serve()
                    close(listening)
                    unlink(path)
                    finished.withLock {
                        $0?.resume(); $0 = nil
                    }
                }
            }
        } onCancelOrGracefulShutdown: {
            self.stopped.store(true, ordering: .releasing)
            var byte: UInt8 = 1
            _ = write(self.wake.write, &byte, 1)  // EAGAIN only when the pipe is full: already awake
        }
    }

    private func serve() {
        while !stopped.load(ordering: .acquiring) {
            var fds = [
                pollfd(fd: listening, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
            ]
            // The timeout only bounds a missed wake-up; stopping writes to the pipe.
            guard poll(&fds, 2, 5_000) > 0, !stopped.load(ordering: .acquiring), fds[0].revents != 0 else { continue }
            let client = accept(listening, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
    }

    private func handle(_ fd: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let response: ControlResponse
        switch UnixSocketAddress.readLine(fd, max: Self.maxRequestBytes, deadline: monotonicMilliseconds() + 2000) {
        case nil:
            response = .failure(ControlError("bad_request", "request too large or not terminated by a newline"))
        case let line?:
            do {
                let request = try PayloadCoding.decode(ControlRequest.self, from: line)
                let semaphore = DispatchSemaphore(value: 0)
                let box = Mutex<ControlResponse?>(nil)
                let handler = self.handler
                Task {
                    let answer = await handler(request)
                    box.withLock { $0 = answer }
                    semaphore.signal()
                }
                // Bounded: an engine that cannot answer (stopping) must not wedge this thread. The whole timeout, on
                // the monotonic clock: a semaphore's timed wait may end early (a clean-clone CI saw 17 s of 20).
                let deadline = monotonicMilliseconds() + Int64(Self.actionTimeoutSeconds) * 1000
                for _ in 0..<100 where box.withLock({ $0 }) == nil {
                    let left = deadline - monotonicMilliseconds()
                    guard left > 0 else { break }
                    _ = semaphore.wait(timeout: .now() + .milliseconds(Int(left)))
                }
                response =
                    box.withLock { $0 }
                    ?? .failure(
                        ControlError(
                            "unavailable",
                            "the daemon is busy or stopping; an action may still be applied (see `dabba-agent tasks`)"
                        ))
            } catch {
                response = .failure(ControlError("bad_request", "\(error)"))
            }
        }
        var bytes = PayloadCoding.encode(response)
        bytes.append(UInt8(ascii: "\n"))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

/// Client side, used by `dabba-agent status` and the task commands.
public enum ControlClient {
    /// How long the CLI waits for an answer: the server's ``ControlServer/actionTimeoutSeconds`` plus 5 s, so a
    /// slow engine is reported as "busy" by the server, never as "unreachable" while the action commits.
    public static let defaultTimeoutSeconds = ControlServer.actionTimeoutSeconds + 5

    /// Sends `request` and returns the daemon's answer; throws ControlError("unreachable") when nothing listens.

    public static func send(_ request: ControlRequest, path: String, timeoutSeconds: Int = defaultTimeoutSeconds)
        throws(ControlError)
        -> ControlResponse
    {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError("unreachable", "socket(): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard UnixSocketAddress.withAddress(path, { connect(fd, $0, $1) }) == 0 else {
            throw ControlError(
                "unreachable", "cannot reach the dabba-agent daemon at \(path): \(String(cString: strerror(errno)))")
        }
        var bytes = PayloadCoding.encode(request)
        bytes.append(UInt8(ascii: "\n"))
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let deadline = monotonicMilliseconds() + Int64(timeoutSeconds) * 1000
        guard sent == bytes.count, let line = UnixSocketAddress.readLine(fd, max: 16 << 20, deadline: deadline) else {
            throw ControlError("unreachable", "the daemon at \(path) did not answer")
        }
        do {
            return try PayloadCoding.decode(ControlResponse.self, from: line, maxBytes: 16 << 20)
        } catch {
            throw ControlError("protocol", "unreadable answer from the daemon: \(error)")
        }
    }
}
