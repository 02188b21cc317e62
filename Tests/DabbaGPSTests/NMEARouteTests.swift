import DabbaSim
import Testing

/// The NMEA generator: checksums, round trip through a small parser, determinism.
@Suite struct NMEARouteTests {
    let start: Int64 = 1_764_064_800_000  // 2025-11-25T10:00:00Z

    @Test func routeIsDeterministicAndRealistic() {
        let route = Route.loop(count: 300, start: start)
        #expect(route == Route.loop(count: 300, start: start))
        #expect(route != Route.loop(count: 300, start: start, seed: 2))
        #expect(route.count == 300)
        for (index, point) in route.enumerated() {
            #expect(point.timeMilliseconds == start + Int64(index) * 1000)
            #expect((3.0...12.0).contains(point.speed))
            #expect((0.0..<360.0).contains(point.track))
            #expect(abs(point.latitude - 22.3149) < 0.01 && abs(point.longitude - 87.3105) < 0.01)
        }
        // Consecutive points are about `speed` metres apart (1 Hz).
        for (a, b) in zip(route, route.dropFirst()) {
            let north = (b.latitude - a.latitude) * 111_320
            let east = (b.longitude - a.longitude) * 111_320 * 0.925  // cos(22.3°)
            let metres = (north * north + east * east).squareRoot()
            #expect(abs(metres - a.speed) < 0.5)
        }
    }

    @Test func sentencesHaveValidChecksumsAndCRLF() {
        let text = NMEA.sentences(for: Route.loop(count: 50, start: start))
        #expect(text.hasSuffix("\r\n"))
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 100)
        for line in lines {
            #expect(!line.contains("\n") && !line.contains("\r"))
            let (body, checksum) = split(String(line))
            #expect(checksum == body.utf8.reduce(UInt8(0)) { $0 ^ $1 }, "\(line)")
        }
        #expect(lines.first?.hasPrefix("$GPRMC,") == true && lines.dropFirst().first?.hasPrefix("$GPGGA,") == true)
    }

    @Test func parsingBackGivesThePoints() {
        let route = Route.loop(count: 120, start: start - 500, seed: 7)  // .500 s: exercises sub-second times
        let lines = NMEA.sentences(for: route).split(separator: "\r\n").map { split(String($0)).body }
        for (index, point) in route.enumerated() {
            let rmc = lines[2 * index].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let gga = lines[2 * index + 1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            #expect(rmc[0] == "GPRMC" && rmc[2] == "A" && gga[0] == "GPGGA" && gga[6] == "1")
            #expect(time(rmc[1], date: rmc[9]) == point.timeMilliseconds)
            #expect(rmc[1] == gga[1])
            for fields in [Array(rmc[3...6]), Array(gga[2...5])] {
                #expect(abs(coordinate(fields[0], fields[1]) - point.latitude) < 1e-6)
                #expect(abs(coordinate(fields[2], fields[3]) - point.longitude) < 1e-6)
            }
            #expect(abs(Double(rmc[7])! * 1852 / 3600 - point.speed) < 0.001)
            #expect(abs(Double(rmc[8])! - point.track) < 0.01)
            #expect(abs(Double(gga[9])! - point.altitude) < 0.01)
        }
    }

    @Test func southernAndWesternHemispheres() {
        let route = Route.loop(count: 5, start: start, centerLatitude: -33.8688, centerLongitude: -151.2093)
        let lines = NMEA.sentences(for: route).split(separator: "\r\n").map { split(String($0)).body }
        let rmc = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        #expect(rmc[4] == "S" && rmc[6] == "W")
        #expect(abs(coordinate(rmc[3], rmc[4]) - route[0].latitude) < 1e-6)
        #expect(abs(coordinate(rmc[5], rmc[6]) - route[0].longitude) < 1e-6)
    }

    @Test func knownChecksum() {
        // A published example sentence.
        #expect(
            NMEA.sentence("GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,")
                == "$GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,*76\r\n")
    }

    // MARK: - A minimal NMEA parser (test-side, independent of the generator)

    func split(_ sentence: String) -> (body: String, checksum: UInt8?) {
        guard sentence.hasPrefix("$"), let star = sentence.lastIndex(of: "*") else { return (sentence, nil) }
        let body = String(sentence[sentence.index(after: sentence.startIndex)..<star])
        return (body, UInt8(sentence[sentence.index(after: star)...], radix: 16))
    }

    func coordinate(_ field: String, _ hemisphere: String) -> Double {
        let dot = field.firstIndex(of: ".")!
        let degreesEnd = field.index(dot, offsetBy: -2)
        let value = Double(field[..<degreesEnd])! + Double(field[degreesEnd...])! / 60
        return hemisphere == "S" || hemisphere == "W" ? -value : value
    }

    func time(_ hhmmss: String, date ddmmyy: String) -> Int64 {
        func int(_ s: String, _ from: Int, _ length: Int) -> Int64 {
            Int64(s.dropFirst(from).prefix(length))!
        }
        let (day, month, year) = (int(ddmmyy, 0, 2), int(ddmmyy, 2, 2), 2000 + int(ddmmyy, 4, 2))
        // Days from civil (Howard Hinnant), valid for the proleptic Gregorian calendar.
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
        let seconds = int(hhmmss, 0, 2) * 3600 + int(hhmmss, 2, 2) * 60 + int(hhmmss, 4, 2)
        let fraction = Double("0" + hhmmss.dropFirst(6))!
        return (days * 86_400 + seconds) * 1000 + Int64((fraction * 1000).rounded())
    }
}
