import DabbaCore
import DabbaProtocol
import Testing

@testable import DabbaAgent

/// ``RowTracker`` answers exactly as the dictionary of rows it replaced, whatever the order of operations.
@Suite struct RowTrackerTests {
    typealias Track = RowTracker.Track

    /// The reference: one entry per row, as the engine kept them before.
    struct Model {
        var rows: [Int64: Track] = [:]

        mutating func set(_ seqs: [Int64], _ track: Track) { for seq in seqs { rows[seq] = track } }
        mutating func remove(_ seqs: [Int64]) { for seq in seqs { rows[seq] = nil } }
        mutating func markSent(_ seqs: [Int64], _ mid: Int32, _ time: Int64) {
            for seq in seqs where rows[seq] == .inFlight(mid) { rows[seq] = .sent(at: time) }
        }
        func sent(before limit: Int64) -> [Int64] {
            rows.compactMap { seq, track in
                if case .sent(let at) = track, at < limit { seq } else { nil }
            }.sorted()
        }
    }

    static func expectSame(_ tracker: RowTracker, _ model: Model, domain: ClosedRange<Int64>, _ step: String) {
        #expect(tracker.count == model.rows.count, "\(step)")
        for seq in domain where tracker[seq] != model.rows[seq] {
            Issue.record(
                "\(step): seq \(seq) is \(String(describing: tracker[seq])), expected \(String(describing: model.rows[seq]))"
            )
            return
        }
        // Runs stay sorted, disjoint and non-empty.
        for (a, b) in zip(tracker.runs, tracker.runs.dropFirst()) where a.seqs.upperBound >= b.seqs.lowerBound {
            Issue.record("\(step): runs overlap or are out of order: \(a) \(b)")
            return
        }
    }

    @Test(arguments: 1...8 as ClosedRange<UInt64>)
    func answersAsTheDictionaryOfRowsDid(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let domain: ClosedRange<Int64> = 1...120
        var tracker = RowTracker()
        var model = Model()
        var mid: Int32 = 0
        for step in 0..<400 {
            // Seqs as the engine passes them: a message's consecutive rows, rows with gaps, a single live fix, or a
            // shuffled handful.
            let start = Int64(pick(110)) + 1
            var seqs: [Int64]
            switch pick(4) {
            case 0: seqs = Array(start...min(start + Int64(pick(12)), domain.upperBound))
            case 1: seqs = stride(from: start, through: min(start + 20, domain.upperBound), by: 1 + pick(3)).map { $0 }
            case 2: seqs = [start]
            default: seqs = (0..<pick(6)).map { _ in Int64(pick(120)) + 1 }
            }
            switch pick(6) {
            case 0, 1:
                mid += 1
                tracker.set(seqs, .inFlight(mid))
                model.set(seqs, .inFlight(mid))
            case 2:
                let which = max(1, mid - Int32(pick(3)))
                let time = Int64(step)
                tracker.markSent(seqs, inFlightIn: which, at: time)
                model.markSent(seqs, which, time)
            case 3:
                tracker.remove(seqs)
                model.remove(seqs)
            case 4:
                let range = start...(start + Int64(pick(30)))
                tracker.remove(range)
                model.remove(Array(range))
            default:
                let limit = Int64(step - pick(50))
                #expect(
                    tracker.sent(before: limit).flatMap { Array($0) } == model.sent(before: limit),
                    "step \(step): sent before \(limit)")
            }
            Self.expectSame(tracker, model, domain: domain, "seed \(seed), step \(step)")
        }
        tracker.removeAll()
        #expect(tracker.isEmpty && tracker.runs.isEmpty)
    }

    @Test func aMessagesRowsAreOneRunFromSendToAck() {
        var tracker = RowTracker()
        tracker.set(Array(101...200), .inFlight(7))
        tracker.set([201], .inFlight(8))
        #expect(tracker.runs.count == 2 && tracker.count == 101)
        tracker.markSent(Array(101...200), inFlightIn: 7, at: 5)
        tracker.markSent([201], inFlightIn: 7, at: 5)  // another message's PUBACK changes nothing here
        #expect(tracker[150] == .sent(at: 5) && tracker[201] == .inFlight(8))
        #expect(tracker.sent(before: 6) == [101...200] && tracker.sent(before: 5).isEmpty)
        tracker.remove(1...150)  // an ack naming rows before and into the run
        #expect(tracker.runs.map(\.seqs) == [151...200, 201...201] && tracker.count == 51)
        #expect(!tracker.contains(150) && tracker.contains(151))
    }

    /// The tracker takes seqs as `AckMessage.ranges(of:)` compresses them.
    @Test func seqsBecomeRangesAscendingWithoutDuplicates() {
        #expect(AckMessage.ranges(of: [5, 3, 4, 4, 9, 10, 1]) == [1...1, 3...5, 9...10])
        #expect(AckMessage.ranges(of: [Int64]()).isEmpty)
        #expect(AckMessage.ranges(of: [Int64.max, Int64.max - 1]) == [(Int64.max - 1)...Int64.max])
        #expect(AckMessage.ranges(of: [Int64.min, Int64.max]) == [Int64.min...Int64.min, Int64.max...Int64.max])
    }
}
