#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// UTC timestamps as DESIGN.md writes them: `2026-11-25T10:00:00.123Z`.
public enum Timestamp {
    /// Formats milliseconds since the Unix epoch (proleptic Gregorian, UTC). Plain arithmetic, no formatter: the
    /// agent stamps one fix a second.
    public static func format(milliseconds ms: Int64) -> String {
        let (year, month, day, msOfDay) = civil(ms)
        guard (0...9999).contains(year) else { return formatByFields(milliseconds: ms) }
        let seconds = msOfDay / 1000
        // Four-digit years (every timestamp a device or the hub makes): the 24 bytes written in place, one
        // allocation (an interpolation made a String per field; the hub formats several per order it shows).
        return String(unsafeUninitializedCapacity: 24) { bytes in
            func put(_ value: Int64, _ width: Int, at start: Int) {
                var value = value
                for index in stride(from: start + width - 1, through: start, by: -1) {
                    bytes[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value % 10)
                    value /= 10
                }
            }
            put(year, 4, at: 0)
            bytes[4] = UInt8(ascii: "-")
            put(month, 2, at: 5)
            bytes[7] = UInt8(ascii: "-")
            put(day, 2, at: 8)
            bytes[10] = UInt8(ascii: "T")
            put(seconds / 3600, 2, at: 11)
            bytes[13] = UInt8(ascii: ":")
            put(seconds / 60 % 60, 2, at: 14)
            bytes[16] = UInt8(ascii: ":")
            put(seconds % 60, 2, at: 17)
            bytes[19] = UInt8(ascii: ".")
            put(msOfDay % 1000, 3, at: 20)
            bytes[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// Field by field, any year (``format(milliseconds:)`` for years outside 0–9999, and the reference its test
    /// compares the fast path with).
    static func formatByFields(milliseconds ms: Int64) -> String {
        let (year, month, day, msOfDay) = civil(ms)
        let seconds = msOfDay / 1000
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):"
            + "\(pad(seconds % 60, 2)).\(pad(msOfDay % 1000, 3))Z"
    }

    /// The civil date of `ms` (Howard Hinnant's days-to-civil algorithm) and the milliseconds into its day.
    private static func civil(_ ms: Int64) -> (year: Int64, month: Int64, day: Int64, msOfDay: Int64) {
        let (days, msOfDay) = ms.quotientAndRemainderFloored(dividingBy: 86_400_000)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day, msOfDay)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Parses an ISO 8601 UTC time (with or without fractional seconds) into milliseconds; nil when invalid.
    public static func parse(_ text: String) -> Int64? {
        if let ms = parseCanonical(text) { return ms }
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        let plain = Date.ISO8601FormatStyle(timeZone: .gmt)
        guard let date = (try? withFraction.parse(text)) ?? (try? plain.parse(text)) else { return nil }
        let ms = (date.timeIntervalSince1970 * 1000).rounded()
        guard ms.isFinite, ms.magnitude < 1e17 else { return nil }  // Int64(ms) would trap beyond Int64
        return Int64(ms)
    }
}

extension Timestamp {
    /// The two forms agents write, `YYYY-MM-DDTHH:MM:SS.sssZ` and `YYYY-MM-DDTHH:MM:SSZ`, with valid fields, read by
    /// plain arithmetic; nil for anything else (then `ISO8601FormatStyle` decides, as before). Ingest parses one
    /// time per fix, and building the format styles cost more than the rest of a fix's decoding.
    static func parseCanonical(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { b -> Int64? in
            guard b.count == 24 || b.count == 20, b[b.count - 1] == UInt8(ascii: "Z"), b[4] == UInt8(ascii: "-"),
                b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"),
                b[16] == UInt8(ascii: ":")
            else { return nil }
            func digits(_ from: Int, _ count: Int) -> Int64? {
                var value: Int64 = 0
                for i in from..<from + count {
                    let d = b[i] &- 0x30
                    guard d <= 9 else { return nil }
                    value = value * 10 + Int64(d)
                }
                return value
            }
            guard let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2), let hour = digits(11, 2),
                let minute = digits(14, 2), let second = digits(17, 2)
            else { return nil }
            var millis: Int64 = 0
            if b.count == 24 {
                guard b[19] == UInt8(ascii: "."), let fraction = digits(20, 3) else { return nil }
                millis = fraction
            }
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            let monthDays: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            guard year >= 1, (1...12).contains(month), day >= 1, day <= monthDays[Int(month - 1)], hour <= 23,
                minute <= 59, second <= 59
            else { return nil }
            // Civil date to days since 1970-01-01 (Howard Hinnant's algorithm).
            let y = month <= 2 ? year - 1 : year
            let era = y / 400
            let yoe = y - era * 400
            let mp = (month + 9) % 12
            let doy = (153 * mp + 2) / 5 + day - 1
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
            let days = era * 146_097 + doe - 719_468
            return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
        }
    }
}

extension Int64 {
    /// Division rounding toward negative infinity, with a non-negative remainder.
    fileprivate func quotientAndRemainderFloored(dividingBy d: Int64) -> (Int64, Int64) {
        let (q, r) = quotientAndRemainder(dividingBy: d)
        return r < 0 ? (q - 1, r + d) : (q, r)
    }
}
