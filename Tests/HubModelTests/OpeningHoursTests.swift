import Foundation
@testable import HubModel
import Testing

/// Opening hours: time zones (fixed offset and DST), past-midnight intervals, week wrap, 24:00, validation.
struct OpeningHoursTests {
    static let minute: Int64 = 60_000
    static let hour: Int64 = 3_600_000
    /// Midnight UTC starting Monday 2026-11-23, Friday 2026-11-27, Sunday 2026-11-29, Monday 2026-07-06 (EDT)
    /// and Monday 2026-01-05 (EST).
    static let mon = Int64(1_795_392_000_000)
    static let fri = Int64(1_795_737_600_000)
    static let sun = Int64(1_795_910_400_000)
    static let julyMon = Int64(1_783_296_000_000)
    static let janMon = Int64(1_767_571_200_000)

    @Test func intervalsInAFixedOffsetZone() throws {
        let hours = try OpeningHours(
            timezone: "Asia/Kolkata", hours: ["mon": [["11:00", "15:00"], ["18:00", "23:00"]]])
        // 11:00 IST = 05:30 UTC; half-open intervals.
        let open = Self.mon + 5 * Self.hour + 30 * Self.minute
        #expect(!hours.isOpen(at: open - 1))
        #expect(hours.isOpen(at: open))
        #expect(hours.isOpen(at: open + 4 * Self.hour - 1))
        #expect(!hours.isOpen(at: open + 4 * Self.hour))  // 15:00 IST
        #expect(hours.isOpen(at: open + 7 * Self.hour))  // 18:00 IST
        #expect(!hours.isOpen(at: open + 12 * Self.hour))  // 23:00 IST
        // Tuesday has no hours.
        #expect(!hours.isOpen(at: open + 24 * Self.hour))
        // Monday 00:30 UTC is Monday 06:00 IST: closed, and Sunday 23:00 UTC is already Monday 04:30 IST.
        #expect(!hours.isOpen(at: Self.mon + 30 * Self.minute))
    }

    @Test func intervalsPastMidnightRunIntoTheNextDay() throws {
        let hours = try OpeningHours(
            timezone: "UTC", hours: ["fri": [["18:00", "02:00"]], "sun": [["22:00", "01:00"]]])
        #expect(!hours.isOpen(at: Self.fri + 18 * Self.hour - 1))
        #expect(hours.isOpen(at: Self.fri + 18 * Self.hour))
        #expect(hours.isOpen(at: Self.fri + 23 * Self.hour + 59 * Self.minute))
        #expect(hours.isOpen(at: Self.fri + 24 * Self.hour + 1 * Self.hour + 59 * Self.minute))  // Sat 01:59
        #expect(!hours.isOpen(at: Self.fri + 26 * Self.hour))  // Sat 02:00
        #expect(!hours.isOpen(at: Self.fri + 2 * Self.hour))  // Fri 02:00: Thursday has no late interval
        #expect(!hours.isOpen(at: Self.sun + 1 * Self.hour))  // Sun 01:00: Saturday has none either
        // Sunday night runs into Monday: the week wraps.
        #expect(hours.isOpen(at: Self.sun + 24 * Self.hour + 30 * Self.minute))
        #expect(!hours.isOpen(at: Self.sun + 25 * Self.hour))
    }

    @Test func wholeDaysAndMidnightClosing() throws {
        let hours = try OpeningHours(
            timezone: "UTC", hours: ["mon": [["00:00", "24:00"]], "tue": [["20:00", "24:00"]]])
        #expect(hours.isOpen(at: Self.mon) && hours.isOpen(at: Self.mon + 24 * Self.hour - 1))
        #expect(!hours.isOpen(at: Self.mon + 24 * Self.hour))  // Tue 00:00
        #expect(hours.isOpen(at: Self.mon + 47 * Self.hour) && !hours.isOpen(at: Self.mon + 48 * Self.hour))
        #expect(hours.wireHours["mon"] == [["00:00", "24:00"]])
        #expect(OpeningHours.always.isOpen(at: Self.fri + 3 * Self.hour) && !OpeningHours.closed.isOpen(at: Self.fri))
    }

    @Test func daylightSavingTimeFollowsTheZone() throws {
        let hours = try OpeningHours(timezone: "America/New_York", hours: ["mon": [["09:00", "17:00"]]])
        // July: EDT (UTC−4), 13:00 UTC = 09:00. January: EST (UTC−5), 13:00 UTC = 08:00.
        #expect(hours.isOpen(at: Self.julyMon + 13 * Self.hour))
        #expect(!hours.isOpen(at: Self.janMon + 13 * Self.hour))
        #expect(hours.isOpen(at: Self.janMon + 14 * Self.hour))
        #expect(!hours.isOpen(at: Self.julyMon + 21 * Self.hour) && hours.isOpen(at: Self.janMon + 21 * Self.hour))
    }

    @Test func pausedRestaurantsAreClosed() {
        var r = Restaurant(
            id: "r-1", name: "Dosa", address: "1 Road", location: GeoPoint(lat: 22.3, lon: 87.3), ownerUserID: 1,
            currency: "INR", hours: .always)
        #expect(r.isOpen(at: Self.mon))
        r.paused = true
        #expect(!r.isOpen(at: Self.mon))
    }

    @Test func validationNamesTheField() {
        let cases: [(String, [String: [[String]]], String)] = [
            ("Mars/Olympus", [:], "hours.timezone"),
            ("UTC", ["monday": [["10:00", "11:00"]]], "hours.hours.monday"),
            ("UTC", ["mon": [["25:00", "26:00"]]], "hours.hours.mon[0]"),
            ("UTC", ["mon": [["10:00", "10:60"]]], "hours.hours.mon[0]"),
            ("UTC", ["mon": [["9:00", "10:00"]]], "hours.hours.mon[0]"),
            ("UTC", ["mon": [["24:00", "02:00"]]], "hours.hours.mon[0]"),
            ("UTC", ["tue": [["10:00", "11:00"], ["12:00", "12:00"]]], "hours.hours.tue[1]"),
            ("UTC", ["wed": [["10:00", "11:00", "12:00"]]], "hours.hours.wed[0]"),
        ]
        for (zone, hours, field) in cases {
            do throws(MarketError) {
                _ = try OpeningHours(timezone: zone, hours: hours)
                Issue.record("accepted \(zone) \(hours)")
            } catch {
                #expect(error.field == field, "\(hours): \(error)")
            }
        }
    }

    @Test func codableRoundTripKeepsTheWireForm() throws {
        let hours = try OpeningHours(
            timezone: "Asia/Kolkata", hours: ["mon": [["11:00", "15:00"]], "sat": [["18:00", "02:00"]], "sun": []])
        let bytes = try JSONEncoder().encode(hours)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""timezone":"Asia\/Kolkata""#) || text.contains(#""timezone":"Asia/Kolkata""#))
        #expect(!text.contains("sun"))
        #expect(try JSONDecoder().decode(OpeningHours.self, from: bytes) == hours)
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(
                OpeningHours.self, from: Data(#"{"timezone":"UTC","hours":{"mon":[["x","y"]]}}"#.utf8))
        }
    }
}
