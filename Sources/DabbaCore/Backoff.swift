/// Exponential reconnect backoff with full jitter, as mosquitto and gpsd clients do it.
///
/// `next()` returns the delay before the next attempt; `reset()` after a success.
public struct Backoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    private var attempt = 0

    public init(initial: Duration = .milliseconds(250), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt, growing ×2 up to `maximum`, jittered into [delay/2, delay].
    public mutating func next() -> Duration {
        defer { attempt += 1 }
        return Self.delay(afterFailures: attempt, initial: initial, maximum: maximum)
    }

    /// The delay after `failures` earlier failed attempts (0 for the first retry): `initial × 2^failures`, capped at
    /// `maximum`, jittered into [delay/2, delay]. For retries whose count is stored rather than held in memory.
    public static func delay(afterFailures failures: Int, initial: Duration, maximum: Duration) -> Duration {
        let capped = ceiling(afterFailures: failures, initial: initial, maximum: maximum)
        let ms = Double(capped.components.seconds) * 1000 + Double(capped.components.attoseconds) / 1e15
        let jittered = ms * Double.random(in: 0.5...1.0)
        return .milliseconds(Int64(jittered))
    }

    /// The delay before jitter after `failures` earlier failed attempts: `initial × 2^failures`, capped at `maximum`.
    public static func ceiling(afterFailures failures: Int, initial: Duration, maximum: Duration) -> Duration {
        let grown = initial * (1 << min(max(failures, 0), 20))
        return grown > maximum ? maximum : grown
    }

    /// Call after a successful attempt.
    public mutating func reset() { attempt = 0 }
}
