import Foundation

/// A restaurant on the marketplace.
package struct Restaurant: Sendable, Codable, Equatable {
    package var id: String
    package var name: String
    package var address: String
    package var location: GeoPoint
    /// The active zone containing `location` (derived by the store whenever the location or the zones change), nil
    /// when no zone serves it.
    package var zoneID: String?
    /// The user (role `restaurant`) who manages it.
    package var ownerUserID: Int64
    /// ISO 4217 code; every menu price of the restaurant is in this currency.
    package var currency: String
    /// Paused restaurants are closed whatever their hours say.
    package var paused: Bool
    package var hours: OpeningHours

    package init(
        id: String, name: String, address: String, location: GeoPoint, zoneID: String? = nil, ownerUserID: Int64,
        currency: String, paused: Bool = false, hours: OpeningHours
    ) {
        self.id = id
        self.name = name
        self.address = address
        self.location = location
        self.zoneID = zoneID
        self.ownerUserID = ownerUserID
        self.currency = currency
        self.paused = paused
        self.hours = hours
    }

    /// Open at the instant `milliseconds` (UTC since 1970): not paused and within its opening hours.
    package func isOpen(at milliseconds: Int64) -> Bool { !paused && hours.isOpen(at: milliseconds) }
}

/// Field checks shared by restaurants, menus and zones (one place for the limits the OpenAPI document states).
package enum MarketValidation {
    /// Largest price or fee, in minor units (10 million major units).
    package static let maxAmount: Int64 = 1_000_000_000

    /// Text of 1…`max` characters as sent (``Swift/String/schemaLength``: the spaces trimmed count too), trimmed,
    /// with something left and no control characters.
    package static func name(_ text: String, field: String, max: Int = 100) throws(MarketError) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.schemaLength <= max, !trimmed.isEmpty,
            !trimmed.unicodeScalars.contains(where: { $0.value < 0x20 })
        else {
            throw MarketError(field, "1 to \(max) characters, no control characters")
        }
        return trimmed
    }

    /// Text of 0…`max` characters as sent (``Swift/String/schemaLength``), trimmed.
    package static func text(_ text: String, field: String, max: Int) throws(MarketError) -> String {
        guard text.schemaLength <= max else { throw MarketError(field, "at most \(max) characters") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Three upper-case letters (ISO 4217 form; the code list itself is not checked).
    package static func currency(_ code: String, field: String = "currency") throws(MarketError) -> String {
        guard code.utf8.count == 3, code.utf8.allSatisfy({ (0x41...0x5A).contains($0) }) else {
            throw MarketError(field, "an ISO 4217 code of three upper-case letters, such as INR")
        }
        return code
    }

    /// 0…`maxAmount` minor units.
    package static func amount(_ value: Int64, field: String) throws(MarketError) -> Int64 {
        guard (0...maxAmount).contains(value) else {
            throw MarketError(field, "whole minor units from 0 to \(maxAmount)")
        }
        return value
    }

    package static func point(_ point: GeoPoint, field: String) throws(MarketError) -> GeoPoint {
        guard point.isValid else { throw MarketError(field, "lat from -90 to 90 and lon from -180 to 180") }
        return point
    }

    /// A client-chosen id (option groups, choices): 1…40 of `[A-Za-z0-9_-]`.
    package static func slug(_ id: String, field: String) throws(MarketError) -> String {
        guard (1...40).contains(id.utf8.count),
            id.utf8.allSatisfy({ c in
                (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || c == 0x2D
                    || c == 0x5F
            })
        else { throw MarketError(field, "1 to 40 of A-Z a-z 0-9 _ -") }
        return id
    }
}
