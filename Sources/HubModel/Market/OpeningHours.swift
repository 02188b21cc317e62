import Foundation

/// Why marketplace input was refused: `field` names the offending JSON field (`hours.mon[1]`, `price`…).
/// Controllers answer 422 `invalid` with "field: message".
package struct MarketError: Error, Sendable, Equatable, CustomStringConvertible {
    package var field: String
    package var message: String
    package init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
    package var description: String { "\(field): \(message)" }
}

/// A day of the week, as the `hours` object keys it.
package enum Weekday: String, Sendable, Codable, CaseIterable, Comparable {
    case mon, tue, wed, thu, fri, sat, sun

    /// Monday = 0 … Sunday = 6.
    package var index: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    package var previous: Weekday { Self.allCases[(index + 6) % 7] }
    package static func < (a: Weekday, b: Weekday) -> Bool { a.index < b.index }
}

/// Weekly opening hours in the restaurant's IANA time zone.
///
/// Wire and storage form: `{"timezone":"Asia/Kolkata","hours":{"mon":[["11:00","15:00"],["18:00","23:00"]],…}}`.
/// A day that is absent or `[]` is closed. Times are `HH:MM`; a closing time of `24:00` means midnight at the end of
/// the day; a closing time earlier than the opening time runs past midnight into the next day (`["18:00","02:00"]`
/// on Friday covers Friday 18:00 to Saturday 02:00). Opening equal to closing is refused (use `00:00`–`24:00` for a
/// whole day). Intervals are half-open: open at the opening minute, closed at the closing minute.
package struct OpeningHours: Sendable, Equatable, Codable {
    /// One interval, in minutes after local midnight; `close <= open` runs into the next day.
    package struct Interval: Sendable, Equatable {
        package var open: Int
        package var close: Int
        package var crossesMidnight: Bool { close <= open }
    }

    package var timezone: String
    package var hours: [Weekday: [Interval]]

    /// Validates and builds hours from their wire form; `MarketError` names the bad field.
    package init(timezone: String, hours: [String: [[String]]]) throws(MarketError) {
        guard timezone.utf8.count <= 64, TimeZone(identifier: timezone) != nil else {
            throw MarketError("hours.timezone", "not an IANA time zone name such as Asia/Kolkata")
        }
        var parsed: [Weekday: [Interval]] = [:]
        for (key, list) in hours {
            guard let day = Weekday(rawValue: key) else {
                throw MarketError("hours.hours.\(key)", "expected a weekday key: mon, tue, wed, thu, fri, sat, sun")
            }
            guard list.count <= 6 else { throw MarketError("hours.hours.\(key)", "at most 6 intervals a day") }
            // An empty day is a closed day, stored as absent (so hours compare equal to their wire round trip).
            if list.isEmpty { continue }
            parsed[day] = try list.enumerated().map { (i, pair) throws(MarketError) -> Interval in
                let field = "hours.hours.\(key)[\(i)]"
                guard pair.count == 2 else { throw MarketError(field, "expected [\"HH:MM\", \"HH:MM\"]") }
                guard let open = Self.minutes(pair[0]), open < 1440, let close = Self.minutes(pair[1]) else {
                    throw MarketError(field, "times are HH:MM from 00:00 to 23:59 (closing may be 24:00)")
                }
                guard open != close else { throw MarketError(field, "opening equals closing; use 00:00–24:00") }
                return Interval(open: open, close: close == 1440 && open == 0 ? 1440 : close % 1440)
            }
        }
        self.timezone = timezone
        self.hours = parsed
    }

    /// Whether the hours say open at the instant `milliseconds` (UTC since 1970).
    package func isOpen(at milliseconds: Int64) -> Bool {
        guard let zone = TimeZone(identifier: timezone) else { return false }
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let local = seconds + Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds))))
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let minute = Int((local - days * 86_400) / 60)
        // 1970-01-01 was a Thursday (index 3 from Monday).
        let day = Weekday.allCases[Int(((days + 3) % 7 + 7) % 7)]
        for interval in hours[day] ?? [] {
            if interval.crossesMidnight {
                if minute >= interval.open { return true }
            } else if interval.open <= minute && minute < interval.close {
                return true
            }
        }
        // Yesterday's intervals that run past midnight into today.
        return (hours[day.previous] ?? []).contains { $0.crossesMidnight && minute < $0.close }
    }

    /// Always open, in UTC (a convenient default for tests and kitchens that never close).
    package static var always: OpeningHours {
        OpeningHours(
            unchecked: "UTC",
            Dictionary(uniqueKeysWithValues: Weekday.allCases.map { ($0, [Interval(open: 0, close: 1440)]) }))
    }

    /// Never open (UTC, no intervals).
    package static var closed: OpeningHours { OpeningHours(unchecked: "UTC", [:]) }

    private init(unchecked timezone: String, _ hours: [Weekday: [Interval]]) {
        self.timezone = timezone
        self.hours = hours
    }

    /// `HH:MM` → minutes after midnight (00:00…24:00); nil when malformed.
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
            (0...24).contains(h), (0...59).contains(m), h < 24 || m == 0
        else { return nil }
        return h * 60 + m
    }

    static func format(_ minutes: Int) -> String {
        let h = minutes / 60
        let m = minutes % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }

    /// The wire form of `hours` (days in week order; closed days omitted).
    package var wireHours: [String: [[String]]] {
        Dictionary(
            uniqueKeysWithValues: hours.filter { !$0.value.isEmpty }.map { day, list in
                (day.rawValue, list.map { [Self.format($0.open), Self.format($0.close)] })
            })
    }

    enum CodingKeys: String, CodingKey { case timezone, hours }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let timezone = try c.decode(String.self, forKey: .timezone)
        let hours = try c.decodeIfPresent([String: [[String]]].self, forKey: .hours) ?? [:]
        do throws(MarketError) {
            try self.init(timezone: timezone, hours: hours)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(timezone, forKey: .timezone)
        try c.encode(wireHours, forKey: .hours)
    }
}
