import Foundation
import Testing

@testable import DabbaHub

/// An order's address counted as the document counts it (code points as sent).
struct OrderAddressTests {
    static func request(address: String) throws -> PlaceOrderRequest {
        let body = try JSONSerialization.data(withJSONObject: [
            "restaurant": "r-1", "items": [["item": "i-1", "quantity": 1]], "address": address, "lat": 12.9,
            "lon": 77.6, "paymentMethod": "cod",
        ])
        return try JSONDecoder().decode(PlaceOrderRequest.self, from: body)
    }

    @Test func anAddressOfMoreThan300CodePointsIsRefused() throws {
        // 150 flags: 150 characters to Swift, 300 code points: the most the document allows.
        #expect(throws: Never.self) {
            try OrderPricing.checkRequest(try Self.request(address: String(repeating: "🇮🇳", count: 150)))
        }
        #expect(throws: APIError.self) {
            try OrderPricing.checkRequest(try Self.request(address: String(repeating: "🇮🇳", count: 151)))
        }
        #expect(throws: APIError.self) { try OrderPricing.checkRequest(try Self.request(address: "   ")) }
    }
}
