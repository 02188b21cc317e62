import DabbaCore
import Testing

@Suite struct CheckedTests {
    @Test func overflowIsNilNotATrap() {
        #expect(Checked.add(.max, 1) == nil && Checked.add(.min, -1) == nil && Checked.add(40, 2) == 42)
        #expect(Checked.subtract(.min, 1) == nil && Checked.subtract(0, .min) == nil && Checked.subtract(1, 1) == 0)
        #expect(Checked.multiply(.max / 2 + 1, 2) == nil && Checked.multiply(-3, 7) == -21)
        #expect(Checked.sum([Int64.max, 1, -1]) == nil, "a partial sum overflows: refused, though the total would fit")
        #expect(Checked.sum([1, 2, 3]) == 6 && Checked.sum([]) == 0)
    }

    @Test func withinToleranceHoldsForEveryPairOfInt64() {
        #expect(Checked.within(300, 1_700_000_000, 1_700_000_299))
        #expect(!Checked.within(300, 1_700_000_000, 1_700_000_301))
        #expect(!Checked.within(300, 1_700_000_000, .min), "now - t overflows: out of tolerance, not a trap")
        #expect(!Checked.within(300, -1_700_000_000, .max))
        #expect(Checked.within(0, .min, .min) && Checked.within(.max, 0, .max))
    }
}
