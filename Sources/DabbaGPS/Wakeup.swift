#if canImport(Glibc)
    import Glibc
#endif

/// A self-pipe that lets `shutdown()` wake the reader thread at once, wherever it waits (on the gpsd socket or
/// between reconnect attempts), instead of the thread polling a flag.
struct Wakeup: ~Copyable, Sendable {
    /// The read end, polled; never drained, so once signalled it stays readable.
    let fd: Int32
    private let writeEnd: Int32

    init() {
        var ends: (Int32, Int32) = (-1, -1)
        let rc = withUnsafeMutableBytes(of: &ends) { pipe($0.baseAddress!.assumingMemoryBound(to: Int32.self)) }
        precondition(rc == 0, "pipe failed")
        (fd, writeEnd) = ends
        for end in [fd, writeEnd] {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
    }

    deinit {
        close(fd)
        close(writeEnd)
    }

    /// Makes every current and future `wait` return immediately.
    func signal() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)  // a full pipe (repeated signals) is fine: it is readable already
    }

    /// Waits up to `milliseconds` for `socket` to become readable (or for a signal).
    /// Returns `.signalled`, `.readable` or `.timedOut`; `socket` may be -1 (just sleep until signalled).
    func wait(socket: Int32, milliseconds: Int64) -> WaitResult {
        var fds = (
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        )
        let count = nfds_t(socket >= 0 ? 2 : 1)
        let timeout = Int32(clamping: max(0, milliseconds))
        let (rc, woken) = withUnsafeMutableBytes(of: &fds) { raw in
            let pair = raw.baseAddress!.assumingMemoryBound(to: pollfd.self)
            return (poll(pair, count, timeout), pair[0].revents != 0)
        }
        if rc <= 0 { return .timedOut }  // timeout or EINTR: the caller re-evaluates its deadlines
        return woken ? .signalled : .readable  // readable includes POLLHUP / POLLERR: the next read reports them
    }

    enum WaitResult { case signalled, readable, timedOut }
}
