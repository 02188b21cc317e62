extension Duration {
    /// Whole milliseconds, clamped to [0, ~31 years] so deadline arithmetic on monotonic or wall-clock time cannot
    /// overflow.
    public var dabbaMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        guard seconds < 1_000_000_000 else { return 1_000_000_000_000 }
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// In seconds, as `TimeInterval` (for APIs that take one).
    public var timeInterval: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
