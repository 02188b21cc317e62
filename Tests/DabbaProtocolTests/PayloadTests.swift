import Foundation
import Testing

@testable import DabbaProtocol

@Suite struct PayloadTests {
    @Test func fixRoundTripAndUnknownFieldsIgnored() throws {
        let fix = Fix(agent: "a-17", seq: 1234, time: "2026-11-25T10:00:00.123Z", lat: 22.3149, lon: 87.3105, mode: 3)
        let decoded = try PayloadCoding.decode(Fix.self, from: PayloadCoding.encode(fix))
        #expect(decoded == fix)
        let extra = Array(
            #"{"v":1,"agent":"a-1","seq":5,"time":"2026-11-25T10:00:00.000Z","lat":1.5,"lon":2.5,"future":{"x":1}}"#
                .utf8)
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
        // The largest seqs a device can send: no `upperBound + 1` overflow (it trapped on two Int64.max seqs).
        #expect(AckMessage.ranges(of: [Int64.max, .max, .max - 1, 1]) == [1...1, (Int64.max - 1)...Int64.max])
        let ack = AckMessage(agent: "a-1", ranges: [1...3, 7...8])
        let decoded = try PayloadCoding.decode(AckMessage.self, from: PayloadCoding.encode(ack))
        #expect(try decoded.ranges() == [1...3, 7...8])
        for bad in [
            #"{"v":1,"agent":"a","seqs":[[3,1]]}"#, #"{"v":1,"agent":"a","seqs":[[0,1]]}"#,
            #"{"v":1,"agent":"a","seqs":[[1]]}"#, #"{"v":2,"agent":"a","seqs":[[1,1]]}"#,
        ] {
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

@Suite struct JSONWriterTests {
    @Test func writtenPayloadsDecodeToTheSameValues() throws {
        let fix = Fix(
            agent: "a-17", seq: 9, time: "2026-11-25T10:00:00.123Z", lat: 22.3149, lon: -87.3105, alt: 31.25,
            speed: 0, track: 359.99, hacc: nil, mode: 3)
        #expect(try PayloadCoding.decode(Fix.self, from: fix.jsonBytes()) == fix)
        var event = AgentEvent(agent: "a-1", seq: 10, time: "t", order: "o-\"quoted\"\n\\", type: .pickedUp)
        event.cashCollected = 25_000
        #expect(try PayloadCoding.decode(AgentEvent.self, from: event.jsonBytes()) == event)
        let state = AgentState(agent: "a-1", online: false, gps: "no_fix", outboxDepth: 3, oldestUnsentAge: 1.5)
        #expect(try PayloadCoding.decode(AgentState.self, from: state.jsonBytes()) == state)
        let sync = TaskSyncRequest(agent: "a-1", id: "9f3c.x_Y-0")
        #expect(try TaskSyncRequest.parse(sync.jsonBytes(), agent: "a-1") == sync)
        #expect(String(decoding: sync.jsonBytes(), as: UTF8.self) == #"{"v":1,"agent":"a-1","id":"9f3c.x_Y-0"}"#)
        #expect(String(decoding: fix.jsonBytes(), as: UTF8.self).hasPrefix(#"{"v":1,"agent":"a-17","seq":9,"time":"#))
    }

    @Test func controlCharactersAreEscapedAndNonFiniteIsNull() throws {
        var bytes: [UInt8] = []
        JSONWriter.appendString("a\u{01}b\u{1F}", to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == #""a\u0001b\u001f""#)
        var w = JSONWriter()
        w.field("x", Double.nan)
        #expect(String(decoding: w.finish(), as: UTF8.self) == #"{"x":null}"#)
    }

    @Test func timestampFormattingMatchesCalendarEdges() {
        #expect(Timestamp.format(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.format(milliseconds: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp.format(milliseconds: 4_102_444_799_999) == "2099-12-31T23:59:59.999Z")
    }

    /// The four-digit fast path writes what the field-by-field formatting writes: random instants over years
    /// 0–9999, the first and last millisecond of that range, and the years either side (which take the slow path).
    @Test func timestampFastPathMatchesTheFieldByFieldFormatting() {
        let first: Int64 = -62_167_219_200_000  // 0000-01-01T00:00:00.000Z
        let last: Int64 = 253_402_300_799_999  // 9999-12-31T23:59:59.999Z
        var generator = SystemRandomNumberGenerator()
        var instants: [Int64] = [first, first - 1, first + 1, last, last - 1, last + 1, 0, -1, 1, 86_399_999]
        instants += (0..<20_000).map { _ in Int64.random(in: first...last, using: &generator) }
        instants += (0..<200).map { _ in Int64.random(in: -(1 << 52)...(1 << 52), using: &generator) }
        for ms in instants {
            #expect(Timestamp.format(milliseconds: ms) == Timestamp.formatByFields(milliseconds: ms), "\(ms)")
        }
        #expect(Timestamp.format(milliseconds: first) == "0000-01-01T00:00:00.000Z")
        #expect(Timestamp.format(milliseconds: last) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.format(milliseconds: last + 1) == "10000-01-01T00:00:00.000Z")
    }
}

@Suite struct JSONValueTests {
    @Test func acksParseLikeTheDecodableForm() throws {
        let text =
            #"{"v":1,"agent":"a-1","seqs":[[1,100],[9007199254740993,9007199254740993]],"extra":{"x":[true,null,"\u00e9"]}}"#
        let parsed = try AckMessage.parse(Array(text.utf8))
        #expect(parsed == (try PayloadCoding.decode(AckMessage.self, from: Array(text.utf8))))
        #expect(try parsed.ranges() == [1...100, 9_007_199_254_740_993...9_007_199_254_740_993])
    }

    @Test(arguments: [
        "", "nope", #"{"v":1"#, #"{"v":1,"agent":"a","seqs":[[1,2]]} trailing"#, #"{"v":"1","agent":"a","seqs":[]}"#,
        #"{"v":1,"agent":5,"seqs":[]}"#, #"{"v":1,"agent":"a","seqs":[["1",2]]}"#, #"{"v":1,"agent":"a","seqs":{}}"#,
        #"{"v":1,"agent":"a\u0001","seqs":[[1,2]],}"#, "[" + String(repeating: "[", count: 100) + "]",
        #"{"v":1,"agent":"a","seqs":[[1.5,2]]}"#, "\"unterminated",
    ])
    func malformedAcksAreRefused(text: String) {
        #expect(throws: PayloadError.self) { try AckMessage.parse(Array(text.utf8)) }
    }

    @Test func escapesAndNesting() throws {
        let value = try JSONValue.parse(Array(#" {"a" : [1, -2.5e3, "x\n\"y\""], "b": {"c": false}} "#.utf8))
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .string("x\n\"y\"")]))
        #expect(value["b"]?["c"] == .bool(false))
    }
}

/// `Fix.parse` must decide exactly as `PayloadCoding.decode(Fix.self, …)`: same value when it accepts, same error
/// code when it refuses (the fast path only ever accepts; everything else goes to JSONDecoder).
@Suite struct FastFixTests {
    static let inputs: [String] = [
        #"{"v":1,"agent":"a-17","seq":1234,"time":"2026-11-25T10:00:00.123Z","lat":22.3149,"lon":87.3105}"#,
        #"{"v":1,"agent":"a-1","seq":5,"time":"2026-11-25T10:00:00.000Z","lat":1.5,"lon":2.5,"alt":31.5,"speed":7.25,"track":181.5,"hacc":3.2,"mode":3}"#,
        #" { "lon" : -2.5e-3 , "lat" : 1E2 , "time" : "t" , "seq" : 9 , "agent" : "x" , "v" : 1 } "#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1,"lon":2,"alt":null,"mode":null,"extra":"s","n":true,"m":null,"k":-0.5}"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1,"lon":2,"future":{"x":1}}"#,
        #"{"v":1,"agent":"a\u002d1","seq":1,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"ä","seq":1,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":1,"seq":2,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":1.0,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":1e2,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":-0,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":99999999999999999999,"time":"t","lat":1,"lon":2}"#,
        // 19 digits can exceed Int64.max: the fast path's digit loop trapped on these (issue 13).
        #"{"v":1,"agent":"a","seq":9999999999999999999,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":9223372036854775808,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":9223372036854775807,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":-9223372036854775808,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":-9223372036854775809,"time":"t","lat":1,"lon":2}"#,
        #"{"v":9999999999999999999,"agent":"a","seq":1,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1,"lon":2,"mode":9999999999999999999}"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1e999,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":01,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1.,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":"five","time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1,"lon":2}x"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1,"lon":2,}"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":true,"lon":2}"#,
        #"{"v":1,"agent":7,"seq":1,"time":"t","lat":1,"lon":2}"#,
        #"{"v":"1","agent":"a","seq":1,"time":"t","lat":1,"lon":2}"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1,"lon":2,"mode":2.5}"#,
        #"{"v":1,"agent":"a","seq":1,"time":"t","lat":1,"lon":2,"speed":"fast"}"#,
        "[1,2,3]", "not json", "", "{}", "null", #"{"v":1}"#,
    ]

    @Test(arguments: inputs)
    func fastPathDecidesLikeJSONDecoder(input: String) {
        Self.expectDecidesLikeJSONDecoder(
            input, parse: { bytes throws(PayloadError) in try Fix.parse(bytes) }, fast: Fix.fastParse)
    }

    /// `parse` decides `input` as `PayloadCoding.decode` does: the same value when it accepts, the same error code when
    /// it refuses; and whatever the fast path `fast` accepts on its own, JSONDecoder accepts with the same value.
    static func expectDecidesLikeJSONDecoder<T: Decodable & Equatable>(
        _ input: String, parse: ([UInt8]) throws(PayloadError) -> T, fast: ([UInt8]) -> T?
    ) {
        let bytes = Array(input.utf8)
        let expected = Result { () throws(PayloadError) in try PayloadCoding.decode(T.self, from: bytes) }
        let actual = Result { () throws(PayloadError) in try parse(bytes) }
        switch (expected, actual) {
        case (.success(let a), .success(let b)): #expect(a == b, "\(input)")
        case (.failure(let a), .failure(let b)): #expect(a.code == b.code, "\(input)")
        default: Issue.record("\(input): JSONDecoder \(expected), fast path \(actual)")
        }
        if let fast = fast(bytes) { #expect((try? expected.get()) == fast, "\(input)") }
    }

    @Test func theAgentsOwnPayloadsTakeTheFastPath() {
        let fixes = [
            Fix(agent: "a-17", seq: 1234, time: "2026-11-25T10:00:00.123Z", lat: 22.3149, lon: 87.3105),
            Fix(
                agent: "a-1", seq: Int64.max, time: "2026-11-25T10:00:00.000Z", lat: -89.999999, lon: 179.123456789,
                alt: -12.25, speed: 0, track: 359.9, hacc: 1e-3, mode: 2),
        ]
        for fix in fixes {
            for bytes in [fix.jsonBytes(), PayloadCoding.encode(fix)] {
                #expect(Fix.fastParse(bytes) == fix)
                #expect((try? PayloadCoding.decode(Fix.self, from: bytes)) == fix)
            }
        }
    }

    @Test func oversizedIsRejectedBeforeParsing() {
        #expect(throws: PayloadError(.tooLarge, "payload of 11 bytes")) {
            try Fix.parse(Array("{\"v\":1,   }".utf8), maxBytes: 10)
        }
    }

    @Test func canonicalTimestampsMatchTheFormatStyle() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        let plain = Date.ISO8601FormatStyle(timeZone: .gmt)
        func slow(_ text: String) -> Int64? {
            guard let date = (try? style.parse(text)) ?? (try? plain.parse(text)) else { return nil }
            return Int64((date.timeIntervalSince1970 * 1000).rounded())
        }
        var generator = SystemRandomNumberGenerator()
        var samples = [
            "2024-02-29T23:59:59.999Z", "2000-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z", "2100-12-31T12:00:00.5Z",
        ]
        for _ in 0..<2000 {
            let ms = Int64.random(in: 0...4_102_444_800_000, using: &generator)
            let text = Timestamp.format(milliseconds: ms)
            samples.append(text)
            samples.append(String(text.prefix(19)) + "Z")
            #expect(Timestamp.parseCanonical(text) == ms)
        }
        for text in samples {
            if let fast = Timestamp.parseCanonical(text) { #expect(fast == slow(text), "\(text)") }
            #expect(Timestamp.parse(text) == slow(text), "\(text)")
        }
        for bad in [
            "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-31T00:00:00.000Z", "2026-11-25T24:00:00Z",
            "2026-11-25T10:60:00Z", "2026-11-25 10:00:00Z", "2026-11-25T10:00:00.12aZ", "yesterday",
        ] {
            #expect(Timestamp.parseCanonical(bad) == nil, "\(bad)")
            #expect(Timestamp.parse(bad) == slow(bad), "\(bad)")
        }
    }

    @Test func ackBytesMatchTheEncoder() throws {
        let ack = AckMessage(agent: "a-\"17\"", ranges: [1...100, 105...105])
        #expect(try PayloadCoding.decode(AckMessage.self, from: ack.jsonBytes()) == ack)
        #expect(try AckMessage.parse(ack.jsonBytes()) == ack)
        let empty = AckMessage(agent: "a", ranges: [])
        #expect(try PayloadCoding.decode(AckMessage.self, from: empty.jsonBytes()) == empty)
    }
}

/// `BacklogMessage.parse` decides exactly as `PayloadCoding.decode(BacklogMessage.self, …)`, like the fix's fast path.
@Suite struct FastBacklogTests {
    static let fix = #"{"v":1,"agent":"a-1","seq":5,"time":"2026-11-25T10:00:00.000Z","lat":1.5,"lon":2.5,"mode":3}"#
    static let inputs: [String] = [
        #"{"v":1,"agent":"a-1","fixes":[\#(fix)]}"#,
        #"{"v":1,"agent":"a-1","fixes":[\#(fix),\#(fix.replacingOccurrences(of: "\"seq\":5", with: "\"seq\":6"))]}"#,
        #" { "fixes" : [ \#(fix) ] , "agent" : "a-1" , "v" : 1 , "extra" : null } "#,
        #"{"v":1,"agent":"a-1","fixes":[]}"#,
        #"{"v":1,"agent":"a-1","fixes":[\#(fix)],"future":{"x":1}}"#,
        #"{"v":1,"agent":"a-1","fixes":[{"v":1,"agent":"a-1","seq":5,"time":"t","lat":1,"lon":2,"k":[1]}]}"#,
        #"{"v":1,"agent":"a\u002d1","fixes":[\#(fix)]}"#,
        #"{"v":1,"agent":"a-1","agent":"a-2","fixes":[\#(fix)]}"#,
        #"{"v":1,"agent":"a-1","fixes":[\#(fix)],"fixes":[]}"#,
        #"{"v":1,"agent":"a-1","fixes":[\#(fix),]}"#,
        #"{"v":1,"agent":"a-1","fixes":[\#(fix)]"#,
        #"{"v":1,"agent":"a-1","fixes":[\#(fix)]}x"#,
        #"{"v":1,"agent":"a-1","fixes":{}}"#,
        #"{"v":1,"agent":"a-1","fixes":[1,2]}"#,
        #"{"v":1,"agent":"a-1","fixes":[{"v":1}]}"#,
        #"{"v":1,"agent":"a-1"}"#,
        #"{"agent":"a-1","fixes":[]}"#,
        #"{"v":9999999999999999999,"agent":"a-1","fixes":[]}"#,
        #"{"v":1.0,"agent":"a-1","fixes":[]}"#,
        #"{"v":1,"agent":7,"fixes":[]}"#,
        #"{"v":1,"agent":"a-1","fixes":[{"v":1,"agent":"a-1","seq":9223372036854775808,"time":"t","lat":1,"lon":2}]}"#,
        "[]", "not json", "", "{}", "null",
    ]

    @Test(arguments: inputs)
    func fastPathDecidesLikeJSONDecoder(input: String) {
        FastFixTests.expectDecidesLikeJSONDecoder(
            input, parse: { bytes throws(PayloadError) in try BacklogMessage.parse(bytes) },
            fast: BacklogMessage.fastParse)
    }

    /// The agent's own backlog messages (its stored fix payloads inside the envelope, `BacklogMessage.payload`) take the
    /// fast path.
    @Test func theAgentsOwnBacklogMessagesTakeTheFastPath() {
        let fixes = (1...100).map { i in
            Fix(
                agent: "a-17", seq: Int64(i), time: "2026-11-25T10:00:\(String(format: "%02d", i % 60)).123Z",
                lat: 22.3149 + Double(i) * 1e-5, lon: 87.3105, alt: 31.5, speed: 7.25, track: 181.5, hacc: 3.2,
                mode: 3)
        }
        var bytes = Array(#"{"v":1,"agent":"a-17","fixes":["#.utf8)
        for (i, fix) in fixes.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes += fix.jsonBytes()
        }
        bytes += Array("]}".utf8)
        // The builder the agent (and the benchmarks) use writes exactly these bytes.
        #expect(BacklogMessage.payload(agent: "a-17", fixPayloads: fixes.map { $0.jsonBytes() }) == bytes)
        let message = BacklogMessage(agent: "a-17", fixes: fixes)
        #expect(BacklogMessage.fastParse(bytes) == message)
        #expect(BacklogMessage.fastParse(PayloadCoding.encode(message)) == message)
        #expect((try? PayloadCoding.decode(BacklogMessage.self, from: bytes)) == message)
    }

    @Test func oversizedIsRejectedBeforeParsing() {
        #expect(throws: PayloadError(.tooLarge, "payload of 11 bytes")) {
            try BacklogMessage.parse(Array("{\"v\":1,   }".utf8), maxBytes: 10)
        }
    }
}

/// `AgentState.parse` must decide exactly as `PayloadCoding.decode(AgentState.self, …)`, as `Fix.parse` does.
@Suite struct FastAgentStateTests {
    static let inputs: [String] = [
        #"{"v":1,"agent":"a-17","online":true}"#,
        #"{"v":1,"agent":"a-1","online":false,"time":"2026-11-25T10:00:00.000Z","gps":"fix","mode":3,"outboxDepth":12,"oldestUnsentAge":4.5,"lastSeq":9223372036854775807,"thinned":0}"#,
        #" { "online" : true , "agent" : "x" , "v" : 1 , "gps" : null , "mode" : null , "lastSeq" : null } "#,
        #"{"v":1,"agent":"a","online":true,"extra":"s","n":1.5e3,"m":null,"k":false}"#,
        #"{"v":1,"agent":"a","online":true,"future":{"x":1}}"#,
        #"{"v":1,"agent":"a","online":true,"future":[1]}"#,
        #"{"v":1,"agent":"a-1","online":true}"#,
        #"{"v":1,"agent":"ä","online":true}"#,
        #"{"v":1,"agent":"a","online":true,"online":false}"#,
        #"{"v":1,"agent":"a","agent":"b","online":true}"#,
        #"{"v":1,"agent":"a","online":1}"#,
        #"{"v":1,"agent":"a","online":"true"}"#,
        #"{"v":1,"agent":"a","online":null}"#,
        #"{"v":1,"agent":"a","online":truex}"#,
        #"{"v":1,"agent":"a","online":tru}"#,
        #"{"v":1,"agent":"a"}"#,
        #"{"v":1,"online":true}"#,
        #"{"agent":"a","online":true}"#,
        #"{"v":1.0,"agent":"a","online":true}"#,
        #"{"v":9999999999999999999,"agent":"a","online":true}"#,
        #"{"v":1,"agent":"a","online":true,"mode":2.5}"#,
        #"{"v":1,"agent":"a","online":true,"mode":1e1}"#,
        #"{"v":1,"agent":"a","online":true,"mode":-0}"#,
        #"{"v":1,"agent":"a","online":true,"outboxDepth":9223372036854775808}"#,
        #"{"v":1,"agent":"a","online":true,"lastSeq":-9223372036854775808}"#,
        #"{"v":1,"agent":"a","online":true,"lastSeq":-9223372036854775809}"#,
        #"{"v":1,"agent":"a","online":true,"oldestUnsentAge":1e999}"#,
        #"{"v":1,"agent":"a","online":true,"oldestUnsentAge":3}"#,
        #"{"v":1,"agent":"a","online":true,"oldestUnsentAge":"3"}"#,
        #"{"v":1,"agent":"a","online":true,"time":7}"#,
        #"{"v":1,"agent":"a","online":true,"gps":"fix","gps":"no_fix"}"#,
        #"{"v":1,"agent":"a","online":true,"time":null,"time":"t"}"#,
        #"{"v":1,"agent":"a","online":true}x"#,
        #"{"v":1,"agent":"a","online":true,}"#,
        #"{"v":1,"agent":"a","online":true"#,
        "[1,2,3]", "not json", "", "{}", "null", "true",
    ]

    @Test(arguments: inputs)
    func fastPathDecidesLikeJSONDecoder(input: String) {
        FastFixTests.expectDecidesLikeJSONDecoder(
            input, parse: { bytes throws(PayloadError) in try AgentState.parse(bytes) }, fast: AgentState.fastParse)
    }

    @Test func theHubsAndTheAgentsOwnStatesTakeTheFastPath() {
        let states = [
            AgentState(agent: "a-17", online: true),
            AgentState(agent: "a-1", online: false),
            AgentState(
                agent: "a-2", online: true, time: "2026-11-25T10:00:00.123Z", gps: "no_fix", mode: 1,
                outboxDepth: 604_800,
                oldestUnsentAge: 86_400.25, lastSeq: Int64.max, thinned: 3),
        ]
        for state in states {
            let bytes = PayloadCoding.encode(state)
            #expect(AgentState.fastParse(bytes) == state, "\(String(decoding: bytes, as: UTF8.self))")
            #expect((try? PayloadCoding.decode(AgentState.self, from: bytes)) == state)
        }
    }
}
