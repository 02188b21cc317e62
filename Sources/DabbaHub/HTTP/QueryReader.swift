import DabbaProtocol
import HubModel
import Hummingbird

/// Query-string readers answering 400 naming the parameter.
package struct QueryReader {
    package let query: Parameters

    package init(query: Parameters) { self.query = query }

    package func int(_ name: String, in range: ClosedRange<Int>, default value: Int) throws(APIError) -> Int {
        guard let text = query.get(name) else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw .badRequest("\(name): expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    package func double(_ name: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
        guard let text = query.get(name) else { return nil }
        guard let x = Double(text), x.isFinite, range.contains(x) else {
            throw .badRequest("\(name): expected a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return x
    }

    package func bool(_ name: String) throws(APIError) -> Bool? {
        switch query.get(name) {
        case nil: return nil
        case "true", "1": return true
        case "false", "0": return false
        default: throw .badRequest("\(name): expected true or false")
        }
    }

    /// `lat` and `lon` together, or neither.
    package func point() throws(APIError) -> GeoPoint? {
        let lat = try double("lat", in: -90...90)
        let lon = try double("lon", in: -180...180)
        switch (lat, lon) {
        case (let lat?, let lon?): return GeoPoint(lat: lat, lon: lon)
        case (nil, nil): return nil
        default: throw .badRequest("lat and lon go together")
        }
    }

    /// `since` / `until` (ISO 8601 UTC); 400 naming the parameter when unreadable or out of order.
    package func timeRange() throws(APIError) -> (since: Int64?, until: Int64?) {
        func parse(_ name: String) throws(APIError) -> Int64? {
            guard let text = query.get(name), !text.isEmpty else { return nil }
            guard let ms = Timestamp.parse(text) else {
                throw .badRequest("\(name): expected an ISO 8601 UTC time such as 2026-11-25T10:00:00Z")
            }
            return ms
        }
        let since = try parse("since")
        let until = try parse("until")
        if let since, let until, since >= until { throw .badRequest("since must be before until") }
        return (since, until)
    }
}
