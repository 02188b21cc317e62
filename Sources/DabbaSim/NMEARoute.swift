#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// NMEA 0183 output for simulated routes (what `gpsfake` replays to a private gpsd).
public enum NMEA {
    /// Knots per metre per second.
    static let knotsPerMetrePerSecond = 3600.0 / 1852.0

    /// `$GPRMC` + `$GPGGA` per point (RMC gives date, speed and track; GGA gives altitude, which makes gpsd
    /// report mode 3), correct checksums, CRLF line ends.
    ///
    /// Coordinates are written as `ddmm.mmmmm` (1e-5 minutes ≈ 1.7e-7 degrees, so a parsed fix is within 1e-6° of
    /// the point), time as `hhmmss.ss` (or `.sss` when the milliseconds need it), speed in knots with 3 decimals,
    /// altitude with 2. The geoid separation field is left empty, so gpsd keeps the altitude as MSL.
    public static func sentences(for points: [RoutePoint]) -> String {
        var out = ""
        out.reserveCapacity(points.count * 160)
        for point in points {
            let utc = UTCFields(milliseconds: point.timeMilliseconds)
            let lat = degreesMinutes(abs(point.latitude), degreeDigits: 2)
            let lon = degreesMinutes(abs(point.longitude), degreeDigits: 3)
            let ns = point.latitude < 0 ? "S" : "N"
            let ew = point.longitude < 0 ? "W" : "E"
            let knots = fixed(point.speed * knotsPerMetrePerSecond, decimals: 3)
            let track = fixed(point.track, decimals: 2)
            out += sentence("GPRMC,\(utc.time),A,\(lat),\(ns),\(lon),\(ew),\(knots),\(track),\(utc.date),,,A")
            let alt = fixed(point.altitude, decimals: 2)
            out += sentence("GPGGA,\(utc.time),\(lat),\(ns),\(lon),\(ew),1,09,0.9,\(alt),M,,M,,")
        }
        return out
    }

    /// `count` epochs of a receiver without a fix yet (`$GPRMC` status `V`, `$GPGGA` quality 0, no position) at
    /// 1 Hz, the last one 1 s before `before` (UTC ms): a realistic cold-start lead-in. gpsd reports these as
    /// mode-1 TPVs, and while it opens and probes the device they are what gets lost instead of the route.
    public static func noFixSentences(count: Int, before: Int64) -> String {
        var out = ""
        for index in stride(from: count, to: 0, by: -1) {
            let utc = UTCFields(milliseconds: before - Int64(index) * 1000)
            out += sentence("GPRMC,\(utc.time),V,,,,,,,\(utc.date),,,N")
            out += sentence("GPGGA,\(utc.time),,,,,0,00,99.99,,,,,,")
        }
        return out
    }

    /// `$BODY*HH\r\n` with the XOR checksum of `body`.
    public static func sentence(_ body: String) -> String {
        "$" + body + "*" + hex2(checksum(body)) + "\r\n"
    }

    /// The NMEA checksum: XOR of every byte between `$` and `*`.
    public static func checksum(_ body: String) -> UInt8 {
        body.utf8.reduce(0) { $0 ^ $1 }
    }

    static func hex2(_ value: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(value >> 4)], digits[Int(value & 0x0F)]])
    }

    /// `value` (non-negative degrees) as `d…dmm.mmmmm`, rounded once in integer units of 1e-5 minutes.
    static func degreesMinutes(_ value: Double, degreeDigits: Int) -> String {
        let units = Int64((value * 60 * 100_000).rounded())
        let perDegree: Int64 = 60 * 100_000
        let degrees = units / perDegree
        let minuteUnits = units % perDegree
        return padded(degrees, width: degreeDigits) + padded(minuteUnits / 100_000, width: 2) + "."
            + padded(minuteUnits % 100_000, width: 5)
    }

    /// `value` with exactly `decimals` fractional digits (no Foundation formatting needed).
    static func fixed(_ value: Double, decimals: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let units = Int64((abs(value) * Double(scale)).rounded())
        let sign = value < 0 && units != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(units) }
        return sign + String(units / scale) + "." + padded(units % scale, width: decimals)
    }

    static func padded(_ value: Int64, width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

/// The UTC time (`hhmmss.ss`) and date (`ddmmyy`) fields of a timestamp.
struct UTCFields {
    let time: String
    let date: String

    init(milliseconds: Int64) {
        var seconds = time_t(milliseconds.floorDiv(1000))
        let millis = milliseconds - Int64(seconds) * 1000
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let hms =
            NMEA.padded(Int64(parts.tm_hour), width: 2) + NMEA.padded(Int64(parts.tm_min), width: 2)
            + NMEA.padded(Int64(parts.tm_sec), width: 2)
        let fraction = millis % 10 == 0 ? NMEA.padded(millis / 10, width: 2) : NMEA.padded(millis, width: 3)
        time = hms + "." + fraction
        date =
            NMEA.padded(Int64(parts.tm_mday), width: 2) + NMEA.padded(Int64(parts.tm_mon + 1), width: 2)
            + NMEA.padded(Int64(parts.tm_year % 100), width: 2)
    }
}

extension Int64 {
    /// Division rounding towards negative infinity (times before 1970 stay well-formed).
    func floorDiv(_ divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
