import DabbaCore
import DabbaProtocol
import Foundation

/// Agent a-1's fixes as the cluster tests publish them, one at a time at the agent's pace (fix `seq` dated `seq`
/// seconds after ``start``, a minute before the tests began), and the seqs a live feed showed of them.
enum PacedFixes {
    static let start = wallClockMilliseconds() - 60_000

    /// The fix of seq `seq`.
    static func fix(_ seq: Int64) -> Fix {
        Fix(
            agent: "a-1", seq: seq, time: Timestamp.format(milliseconds: start + seq * 1000),
            lat: 12.96 + Double(seq) * 1e-4, lon: 77.59, mode: 3)
    }

    /// The seqs of the position frames in `frames`: the fleet feed's positions carry theirs, the order feed's (which
    /// shows customers no seq) are known by their fix time.
    static func seqs(_ frames: FrameLog) -> [Int64] {
        frames.withLock { $0 }.compactMap { text -> Int64? in
            guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
                object["type"] as? String == "position", let position = object["position"] as? [String: Any]
            else { return nil }
            if let seq = position["seq"] as? NSNumber { return seq.int64Value }
            return (position["time"] as? String).flatMap(Timestamp.parse).map { ($0 - start) / 1000 }
        }
    }
}
