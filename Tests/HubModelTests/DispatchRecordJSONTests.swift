import DabbaDispatch
import Foundation
import Testing

@testable import HubModel

/// The decision candidates as the stores keep them (``DispatchRecord/encodedCandidates()``).
@Suite struct DispatchRecordJSONTests {
    static func record(_ candidates: [DispatchCandidate]) -> DispatchRecord {
        DispatchRecord(
            order: "o-1", time: 1, policy: "batch", agent: candidates.first?.agent, outcome: "offered",
            candidates: candidates)
    }

    @Test(arguments: [
        [],
        [DispatchCandidate(agent: "a-1", cost: 12.5, etaSeconds: 240)],
        [
            DispatchCandidate(agent: #"a "quoted" \ back"#, cost: 0.1, etaSeconds: 1e-300),
            DispatchCandidate(agent: "a-\u{1}\n\tà-🚲", cost: -0.0, etaSeconds: 1.7976931348623157e308),
            DispatchCandidate(agent: "a-3", cost: 123_456_789.123_456_78, etaSeconds: 3),
        ],
    ])
    func candidatesReadBackExactlyAsJSONEncoderWroteThem(_ candidates: [DispatchCandidate]) throws {
        let bytes = try Self.record(candidates).encodedCandidates()
        let decoded = try JSONDecoder().decode([DispatchCandidate].self, from: Data(bytes))
        #expect(decoded == candidates)
        #expect(decoded.map(\.cost.bitPattern) == candidates.map(\.cost.bitPattern))
        let old = try JSONDecoder().decode([DispatchCandidate].self, from: JSONEncoder().encode(candidates))
        #expect(decoded == old)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func aNonFiniteCostOrETAIsRefused(_ value: Double) {
        for candidate in [
            DispatchCandidate(agent: "a-1", cost: value, etaSeconds: 1),
            DispatchCandidate(agent: "a-1", cost: 1, etaSeconds: value),
        ] {
            #expect(throws: StoreError.self) {
                try Self.record([DispatchCandidate(agent: "a-0", cost: 1, etaSeconds: 1), candidate])
                    .encodedCandidates()
            }
        }
    }
}
