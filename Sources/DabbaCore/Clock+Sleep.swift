#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Helpers for code that runs on a dedicated thread (not in Swift concurrency).
public enum ThreadSleep {
    /// Sleeps the calling OS thread for `duration`, waking every 100 ms to check `shouldStop`.
    /// Returns false when it stopped early.
    @discardableResult
    public static func sleep(_ duration: Duration, unless shouldStop: () -> Bool) -> Bool {
        var remainingMs =
            Int64(duration.components.seconds) * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        while remainingMs > 0 {
            if shouldStop() { return false }
            let step = min(remainingMs, 100)
            usleep(useconds_t(step * 1000))
            remainingMs -= step
        }
        return !shouldStop()
    }
}

/// Wall-clock time in milliseconds since the Unix epoch.
public func wallClockMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Monotonic time in milliseconds (for timeouts and rates).
public func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
