@testable import HubModel
import Testing

/// Names and texts of restaurants, menus and zones, counted as `hub/openapi.yaml`'s `maxLength` counts them (code
/// points of the text as sent): api-fuzz sends text a document-following server must refuse.
struct MarketValidationTests {
    @Test func namesAreCountedInCodePointsAsSent() throws {
        // 100 code points: accepted, trimmed.
        #expect(try MarketValidation.name(" " + String(repeating: "a", count: 98) + " ", field: "name").count == 98)
        // 60 flags are 60 characters to Swift but 120 code points to the document: refused at 100.
        let flags = String(repeating: "🇮🇳", count: 60)
        #expect(flags.count == 60 && flags.unicodeScalars.count == 120)
        #expect(throws: MarketError.self) { try MarketValidation.name(flags, field: "name") }
        // "é" as e + combining acute, 51 times: 51 characters, 102 code points.
        let accented = String(repeating: "e\u{301}", count: 51)
        #expect(throws: MarketError.self) { try MarketValidation.name(accented, field: "name") }
        // Spaces trimmed away still count: 90 letters inside 20 spaces are 110 code points sent.
        let padded =
            String(repeating: " ", count: 10) + String(repeating: "a", count: 90) + String(repeating: " ", count: 10)
        #expect(throws: MarketError.self) { try MarketValidation.name(padded, field: "name") }
        // Nothing left after trimming, or a control character: refused.
        #expect(throws: MarketError.self) { try MarketValidation.name("   ", field: "name") }
        #expect(throws: MarketError.self) { try MarketValidation.name("Dosa\u{7}", field: "name") }
    }

    @Test func textsAreCountedTheSameWay() throws {
        #expect(
            try MarketValidation.text("  Crisp, with chutney  ", field: "description", max: 1000)
                == "Crisp, with chutney")
        #expect(try MarketValidation.text("", field: "description", max: 1000) == "")
        let flags = String(repeating: "🇮🇳", count: 501)
        #expect(throws: MarketError.self) { try MarketValidation.text(flags, field: "description", max: 1000) }
        #expect(
            try MarketValidation.text(String(repeating: "🇮🇳", count: 500), field: "description", max: 1000).count == 500)
    }
}
