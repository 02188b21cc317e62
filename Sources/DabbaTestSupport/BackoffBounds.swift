import DabbaCore

extension Backoff {
    /// The most connection attempts a client backing off from `initial` to `maximum` (each delay jittered into
    /// [delay/2, delay], as ``Backoff/next()`` does) can make in `elapsed`: the first attempt at once, each later one
    /// after at least half its delay.
    ///
    /// A scheduler-proof upper bound for backoff tests: a loaded machine only makes attempts later, never earlier,
    /// so a count above this bound means the delays were not honoured (a busy loop makes hundreds).
    public static func mostAttempts(within elapsed: Duration, initial: Duration, maximum: Duration) -> Int {
        var attempts = 1
        var waited: Duration = .zero
        for failures in 0..<10_000 {
            // Half the delay, less the millisecond that Backoff's rounding down may take off.
            waited += ceiling(afterFailures: failures, initial: initial, maximum: maximum) / 2 - .milliseconds(1)
            if waited > elapsed { break }
            attempts += 1
        }
        return attempts
    }
}
