/// Arithmetic on untrusted integers (timestamps, seqs, money, quantities) that reports overflow instead of trapping:
/// Swift traps on overflow, and a trap is a crash any client that controls an operand can trigger.
///
/// Each returns nil when the exact result does not fit in `Int64`; callers turn that into a clear error (a 4xx, a
/// counted rejection), never a crash.
public enum Checked {
    /// `a + b`, or nil on overflow.
    @inlinable public static func add(_ a: Int64, _ b: Int64) -> Int64? {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : sum
    }

    /// `a - b`, or nil on overflow.
    @inlinable public static func subtract(_ a: Int64, _ b: Int64) -> Int64? {
        let (difference, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? nil : difference
    }

    /// `a × b`, or nil on overflow.
    @inlinable public static func multiply(_ a: Int64, _ b: Int64) -> Int64? {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : product
    }

    /// The sum of `values`, or nil when it (or any partial sum) overflows.
    @inlinable public static func sum(_ values: some Sequence<Int64>) -> Int64? {
        var total: Int64 = 0
        for value in values {
            guard let next = add(total, value) else { return nil }
            total = next
        }
        return total
    }

    /// Whether `a` and `b` are at most `tolerance` (≥ 0) apart (false when their distance does not even fit in
    /// Int64, and for a negative tolerance).
    @inlinable public static func within(_ tolerance: Int64, _ a: Int64, _ b: Int64) -> Bool {
        guard tolerance >= 0, let distance = subtract(a, b) else { return false }
        return distance.magnitude <= UInt64(tolerance)
    }
}
