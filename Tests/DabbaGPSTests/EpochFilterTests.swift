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
        // Each emitted fix with the number of clock-back resets before it: strictly increasing between resets.
        var out: [(fix: GPSFix, resets: Int)] = []
        var now: Int64 = 0
        for _ in 0..<5_000 {
            now += Int64.random(in: 0...120, using: &generator)
            let time = Int64.random(in: 0...400, using: &generator) * 10 + now
            let mode = Int.random(in: 2...3, using: &generator)
            for emitted in filter.offer(fix(time, mode: mode, complete: Bool.random(using: &generator)), now: now) {
                out.append((emitted, filter.backwardResets))
            }
            if let due = filter.due(now: now) { out.append((due, filter.backwardResets)) }
        }
        if let last = filter.flush() { out.append((last, filter.backwardResets)) }
        #expect(!out.isEmpty)
        #expect(
            zip(out, out.dropFirst()).allSatisfy {
                $0.resets != $1.resets || $0.fix.timeMilliseconds < $1.fix.timeMilliseconds
            })
        // A step back only ever comes with a reset.
        #expect(
            zip(out, out.dropFirst()).allSatisfy {
                $0.fix.timeMilliseconds < $1.fix.timeMilliseconds || $1.resets > $0.resets
            })
    }
}

/// The receiver's clock going back (leap-second correction, receiver reset, a first fix dated wrongly).
@Suite struct EpochFilterClockTests {
    func fix(_ time: Int64) -> GPSFix {
        GPSFix(
            timeMilliseconds: time, latitude: 22.3, longitude: 87.3, altitude: 30, speed: 5, track: 90,
            horizontalAccuracy: 3, mode: 3)
    }

    @Test func aReceiverClockThatWentBackIsFollowedAfterFiveEpochs() {
        var filter = EpochFilter(settleMilliseconds: 350)
        let dayAhead: Int64 = 86_400_000 + 10_000
        #expect(filter.offer(fix(dayAhead), now: 0) == [fix(dayAhead)])
        // The receiver corrects its date: four epochs behind are dropped …
        for (i, time) in [1_000, 2_000, 3_000, 4_000].enumerated() {
            #expect(filter.offer(fix(Int64(time)), now: Int64(i + 1) * 1000).isEmpty)
        }
        #expect(filter.backwardResets == 0)
        // … the fifth in a row is taken as the new timeline, and recording goes on from it.
        #expect(filter.offer(fix(5_000), now: 5_000) == [fix(5_000)])
        #expect(filter.backwardResets == 1)
        #expect(filter.offer(fix(6_000), now: 6_000) == [fix(6_000)])
        #expect(filter.offer(fix(6_000), now: 6_100).isEmpty)  // still one fix per epoch
    }

    @Test func aRepeatedOrShuffledEpochIsNotAClockJump() {
        var filter = EpochFilter(settleMilliseconds: 350)
        #expect(filter.offer(fix(10_000), now: 0) == [fix(10_000)])
        // gpsd repeats its current epoch to a client that reconnects: however often, it is no new timeline.
        for i in 1...20 { #expect(filter.offer(fix(10_000), now: Int64(i)).isEmpty) }
        // Older epochs that do not form an increasing run restart the count.
        for (i, time) in [9_000, 9_500, 8_000, 8_500, 7_000, 7_500, 9_900].enumerated() {
            #expect(filter.offer(fix(Int64(time)), now: 100 + Int64(i)).isEmpty)
        }
        #expect(filter.backwardResets == 0)
        #expect(filter.offer(fix(11_000), now: 200) == [fix(11_000)])
    }
}
