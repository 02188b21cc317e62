import DabbaProtocol
import Testing

@Suite struct PayloadTests {
    @Test func fixRoundTripAndUnknownFieldsIgnored() throws {
        let fix = Fix(agent: "a-17", seq: 1234, time: "2026-11-25T10:00:00.123Z", lat: 22.3149, lon: 87.3105, mode: 3)
        let decoded = try PayloadCoding.decode(Fix.self, from: PayloadCoding.encode(fix))
        #expect(decoded == fix)
        let extra = Array(
            #"{"v":1,"agent":"a-1","seq":5,"time":"2026-11-25T10:00:00.000Z","lat":1.5,"lon":2.5,"future":{"x":1}}"#.utf8)
        #expect(try PayloadCoding.decode(Fix.self, from: extra).seq == 5)
    }

    @Test(arguments: [
        ("not json at all", PayloadError.Code.notJSON),
        (#"{"v":1,"agent":"a","seq":"five","time":"t","lat":1,"lon":2}"#, PayloadError.Code.invalidField),
        (#"{"v":1,"agent":"a","time":"t","lat":1,"lon":2}"#, PayloadError.Code.invalidField),
        (#"{"v":1,"agent":"a","seq":1,"time":"t","lat":1"#, PayloadError.Code.notJSON),
        ("[1,2,3]", PayloadError.Code.invalidField),
    ])
    func malformedFixesAreRejectedWithAReason(input: String, code: PayloadError.Code) {
        do {
            _ = try PayloadCoding.decode(Fix.self, from: Array(input.utf8))
            Issue.record("accepted \(input)")
        } catch {
            #expect(error.code == code, "\(input) → \(error)")
        }
    }

    @Test func oversizedPayloadIsRejected() {
        let big = [UInt8](repeating: UInt8(ascii: " "), count: 2048)
        #expect(throws: PayloadError(.tooLarge, "payload of 2048 bytes")) {
            try PayloadCoding.decode(Fix.self, from: big, maxBytes: 1024)
        }
    }

    @Test func ackRangesValidateAndCompress() throws {
        #expect(AckMessage.ranges(of: [5, 1, 2, 3, 7, 8, 3]) == [1...3, 5...5, 7...8])
        let ack = AckMessage(agent: "a-1", ranges: [1...3, 7...8])
        let decoded = try PayloadCoding.decode(AckMessage.self, from: PayloadCoding.encode(ack))
        #expect(try decoded.ranges() == [1...3, 7...8])
        for bad in [#"{"v":1,"agent":"a","seqs":[[3,1]]}"#, #"{"v":1,"agent":"a","seqs":[[0,1]]}"#,
            #"{"v":1,"agent":"a","seqs":[[1]]}"#, #"{"v":2,"agent":"a","seqs":[[1,1]]}"#]
        {
            let message = try PayloadCoding.decode(AckMessage.self, from: Array(bad.utf8))
            #expect(throws: PayloadError.self) { try message.ranges() }
        }
    }

    @Test func timestampsFormatAndParse() {
        #expect(Timestamp.format(milliseconds: 1_795_082_400_123) == "2026-11-19T10:00:00.123Z")
        #expect(Timestamp.parse("2026-11-19T10:00:00.123Z") == 1_795_082_400_123)
        #expect(Timestamp.parse("2026-11-19T10:00:00Z") == 1_795_082_400_000)
        #expect(Timestamp.parse("yesterday") == nil)
        // Every millisecond survives a round trip.
        for ms in stride(from: Int64(1_795_082_400_000), to: 1_795_082_402_000, by: 1) {
            #expect(Timestamp.parse(Timestamp.format(milliseconds: ms)) == ms)
        }
    }

    @Test func topicsAndAgentIDs() {
        #expect(Topics.fix(agent: "a-17") == "dabba/v1/agents/a-17/fix")
        #expect(Topics.parseAgentTopic("dabba/v1/agents/a-17/backlog")! == ("a-17", "backlog"))
        #expect(Topics.parseAgentTopic("dabba/v1/agents/a+b/fix") == nil)
        #expect(!AgentID.isValid(""))
        #expect(!AgentID.isValid("has space"))
        #expect(!AgentID.isValid(String(repeating: "a", count: 65)))
        #expect(AgentID.isValid("a-17_x.y"))
    }
}
