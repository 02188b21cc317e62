#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// UTC timestamps as DESIGN.md writes them: `2026-11-25T10:00:00.123Z`.
public enum Timestamp {
    /// Formats milliseconds since the Unix epoch.
    public static func format(milliseconds ms: Int64) -> String {
        // The formatter truncates to milliseconds; a tenth of a millisecond keeps x.123 from printing as x.122
        // when the binary double lands just below it.
        let date = Date(timeIntervalSince1970: Double(ms) / 1000 + 0.0001)
        return date.formatted(
            Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    /// Parses an ISO 8601 UTC time (with or without fractional seconds) into milliseconds; nil when invalid.
    public static func parse(_ text: String) -> Int64? {
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        let plain = Date.ISO8601FormatStyle(timeZone: .gmt)
        guard let date = (try? withFraction.parse(text)) ?? (try? plain.parse(text)) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
