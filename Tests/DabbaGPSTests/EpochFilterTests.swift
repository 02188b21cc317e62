import Testing

@testable import DabbaGPS

/// One fix per epoch, without gpsd: the filter alone, driven with explicit monotonic times.
@Suite struct EpochFilterTests {
    func fix(_ time: Int64, mode: Int = 3, altitude: Double? = 30, complete: Bool = true) -> GPSFix {
        GPSFix(
            timeMilliseconds: time, latitude: 22.3, longitude: 87.3, altitude: mode == 3 ? altitude : nil,
            speed: complete ? 5 : nil, track: complete ? 90 : nil, horizontalAccuracy: complete ? 3 : nil, mode: mode)
    }

    @Test func completeFixIsEmittedAtOnce() {
        var filter = EpochFilter(settleMilliseconds: 350)
        #expect(filter.offer(fix(1000), now: 0) == [fix(1000)])
        #expect(filter.deadline == nil)
        #expect(filter.offer(fix(1000), now: 10).isEmpty)  // same time again: dropped
        #expect(filter.offer(fix(500), now: 20).isEmpty)  // older: dropped
        #expect(filter.offer(fix(2000), now: 1000) == [fix(2000)])
    }

    @Test func mode2ThenMode3SameTimeGivesTheMode3() {
        var filter = EpochFilter(settleMilliseconds: 350)
        let rmc = fix(1000, mode: 2)
        #expect(filter.offer(rmc, now: 0).isEmpty)
        #expect(filter.deadline == 350)
        #expect(filter.due(now: 100) == nil)
        #expect(filter.offer(fix(1000), now: 100) == [fix(1000)])
        #expect(filter.due(now: 1000) == nil)
        #expect(filter.flush() == nil)
    }

    @Test func lateSecondTPVIsDroppedAfterSettle() {
        var filter = EpochFilter(settleMilliseconds: 350)
        #expect(filter.offer(fix(1000, mode: 2), now: 0).isEmpty)
        #expect(filter.due(now: 349) == nil)
        #expect(filter.due(now: 350) == fix(1000, mode: 2))
        #expect(filter.offer(fix(1000), now: 500).isEmpty)  // arrived after settle: same time, never a duplicate
        #expect(filter.lastEmittedTime == 1000)
    }

    @Test func newerTimeReleasesTheHeldFix() {
        var filter = EpochFilter(settleMilliseconds: 350)
        #expect(filter.offer(fix(1000, mode: 2), now: 0).isEmpty)
        #expect(filter.offer(fix(1200, mode: 2), now: 200) == [fix(1000, mode: 2)])  // 5 Hz receiver, 2D only
        #expect(filter.offer(fix(1400), now: 400) == [fix(1200, mode: 2), fix(1400)])
    }

    @Test func worseTPVForTheSameTimeDoesNotReplace() {
        var filter = EpochFilter(settleMilliseconds: 350)
        let good = fix(1000, mode: 3, complete: false)
        #expect(filter.offer(good, now: 0).isEmpty)
        #expect(filter.offer(fix(1000, mode: 2), now: 50).isEmpty)
        #expect(filter.flush() == good)
        #expect(filter.flush() == nil)
    }

    @Test func outOfOrderOlderThanHeldIsDropped() {
        var filter = EpochFilter(settleMilliseconds: 350)
        #expect(filter.offer(fix(2000, mode: 2), now: 0).isEmpty)
        #expect(filter.offer(fix(1000), now: 10).isEmpty)
        #expect(filter.due(now: 400) == fix(2000, mode: 2))
    }

    @Test func strictlyIncreasingOverAnyInput() {
        var filter = EpochFilter(settleMilliseconds: 100)
        var generator = SystemRandomNumberGenerator()
        var out: [GPSFix] = []
        var now: Int64 = 0
        for _ in 0..<5_000 {
            now += Int64.random(in: 0...120, using: &generator)
            let time = Int64.random(in: 0...400, using: &generator) * 10 + now
            let mode = Int.random(in: 2...3, using: &generator)
            out += filter.offer(fix(time, mode: mode, complete: Bool.random(using: &generator)), now: now)
            if let due = filter.due(now: now) { out.append(due) }
        }
        if let last = filter.flush() { out.append(last) }
        #expect(!out.isEmpty)
        #expect(zip(out, out.dropFirst()).allSatisfy { $0.timeMilliseconds < $1.timeMilliseconds })
    }
}
