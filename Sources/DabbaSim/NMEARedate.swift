#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension NMEA {
    /// `log` (NMEA 0183 lines, as a receiver wrote them) moved in time so that its first dated epoch (the first
    /// `RMC` with a date) is `start` (UTC ms), every later time by the same amount: a recorded drive replayed as if it
    /// were happening now. `RMC` (time and date) and `GGA` (time, dated by the `RMC` before it, a day later when
    /// its time of day went backwards past midnight) are rewritten with fresh checksums; every other line is kept as
    /// it is. Positions, speeds and everything else stay untouched. Lines end in CRLF. Nil when the log has no
    /// dated `RMC`.
    public static func redated(_ log: String, start: Int64) -> String? {
        let lines = log.split(whereSeparator: \.isNewline).map(String.init)
        guard let first = lines.lazy.compactMap({ RMCTime($0) }).first else { return nil }
        let shift = start - first.milliseconds
        var out = ""
        out.reserveCapacity(log.utf8.count + lines.count)
        var lastRMC: Int64?  // the time (UTC ms) of the last RMC, which dates the GGA after it
        for line in lines {
            guard var fields = fields(of: line) else {
                out += line + "\r\n"
                continue
            }
            let type = fields.first.map { String($0.suffix(3)) } ?? ""
            if type == "RMC", let rmc = RMCTime(fields: fields) {
                lastRMC = rmc.milliseconds
                let moved = UTCFields(milliseconds: rmc.milliseconds + shift)
                fields[1] = moved.time
                fields[9] = moved.date
            } else if type == "GGA", fields.count > 1, let time = timeOfDay(fields[1]), let rmc = lastRMC {
                // The GGA's day is the RMC's, unless its time of day is half a day away: midnight lies between.
                let day: Int64 = 86_400_000
                var when = rmc.floorDiv(day) * day + time
                if when < rmc - day / 2 { when += day } else if when > rmc + day / 2 { when -= day }
                fields[1] = UTCFields(milliseconds: when + shift).time
            } else {
                out += line + "\r\n"
                continue
            }
            out += sentence(fields.joined(separator: ","))
        }
        return out
    }

    /// The comma-separated fields of a sentence `$BODY*HH` (the talker and type first), nil when `line` is not one.
    static func fields(of line: String) -> [String]? {
        guard line.hasPrefix("$"), let star = line.lastIndex(of: "*") else { return nil }
        return line[line.index(after: line.startIndex)..<star].split(separator: ",", omittingEmptySubsequences: false)
            .map(String.init)
    }

    /// Milliseconds after midnight of an NMEA `hhmmss[.s…]` field; nil when it is not one.
    static func timeOfDay(_ field: String) -> Int64? {
        let parts = field.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts[0].count == 6, let hms = Int64(parts[0]) else { return nil }
        let (h, m, s) = (hms / 10_000, hms / 100 % 100, hms % 100)
        guard h < 24, m < 60, s < 61 else { return nil }
        var millis: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1].prefix(3)
            guard digits.allSatisfy(\.isNumber), let value = Int64(digits.isEmpty ? "0" : String(digits)) else {
                return nil
            }
            millis = value * [1, 100, 10, 1][digits.count]
        }
        return ((h * 60 + m) * 60 + s) * 1000 + millis
    }
}

/// The time of a dated `$..RMC` line (time field 1, date field 9 `ddmmyy`, years 2000–2099), UTC ms.
struct RMCTime {
    let milliseconds: Int64

    init?(_ line: String) {
        guard let fields = NMEA.fields(of: line) else { return nil }
        self.init(fields: fields)
    }

    /// From a sentence's fields (``NMEA/fields(of:)``), so a caller that has split the line does not split it again.
    init?(fields: [String]) {
        guard fields.count > 9, fields[0].hasSuffix("RMC"), let time = NMEA.timeOfDay(fields[1]),
            fields[9].count == 6, let dmy = Int(fields[9])
        else { return nil }
        var parts = tm()
        parts.tm_mday = Int32(dmy / 10_000)
        parts.tm_mon = Int32(dmy / 100 % 100) - 1
        parts.tm_year = Int32(dmy % 100) + 100
        guard (1...31).contains(parts.tm_mday), (0...11).contains(parts.tm_mon) else { return nil }
        let midnight = Int64(timegm(&parts)) * 1000
        milliseconds = midnight + time
    }
}
