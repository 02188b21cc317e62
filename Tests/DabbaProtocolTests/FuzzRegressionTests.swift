import DabbaFuzz
import DabbaProtocol
import Foundation
import Testing

/// Every stored fuzz input — the seed corpus and each crash reproducer `make fuzz` ever found — runs through its
/// target here, in the normal suite: a decoder that traps again fails (crashes) the test run. The hub's targets run
/// the hub's own functions (`FuzzTarget+Hub.swift`), so a reproducer found there is replayed against the hub's code.
@Suite struct FuzzRegressionTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    /// The files under `Tests/Fuzz/<kind>/<target>/`.
    static func inputs(_ kind: String, _ target: FuzzTarget) -> [URL] {
        let directory = fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func storedInputsRunThroughTheirTarget(_ target: FuzzTarget) throws {
        let files = Self.inputs("corpus", target) + Self.inputs("crashes", target)
        #expect(!files.isEmpty, "Tests/Fuzz/corpus/\(target.rawValue) holds the target's seeds")
        for file in files { target.run(Array(try Data(contentsOf: file))) }
    }

    /// The seeds are what the fuzzer mutates: each one must be a valid input of its decoder, or the fuzzer starts
    /// from the error paths only.
    @Test func seedsAreValidInputs() throws {
        func seeds(_ target: FuzzTarget) throws -> [[UInt8]] {
            try Self.inputs("corpus", target).filter { $0.lastPathComponent.hasPrefix("seed-") }
                .map { Array(try Data(contentsOf: $0)) }
        }
        for bytes in try seeds(.fix) { #expect(throws: Never.self) { try Fix.parse(bytes) } }
        for bytes in try seeds(.backlog) {
            #expect(throws: Never.self) { try PayloadCoding.decode(BacklogMessage.self, from: bytes) }
        }
        for bytes in try seeds(.event) {
            let event = try PayloadCoding.decode(AgentEvent.self, from: bytes)
            #expect(Timestamp.parse(event.time) != nil)
        }
        for bytes in try seeds(.state) {
            #expect(throws: Never.self) { try PayloadCoding.decode(AgentState.self, from: bytes) }
        }
        for bytes in try seeds(.ack) { #expect(throws: Never.self) { try AckMessage.parse(bytes).ranges() } }
        for bytes in try seeds(.sync) {
            let request = try? TaskSyncRequest.parse(bytes, agent: "a-1")
            let answer = try? TaskSyncAnswer.parse(bytes, agent: "a-1")
            #expect(request != nil || answer != nil, "a sync seed is a request or an answer")
        }
        for bytes in try seeds(.json) { #expect(throws: Never.self) { try JSONValue.parse(bytes) } }
        for bytes in try seeds(.timestamp) {
            #expect(Timestamp.parse(String(decoding: bytes, as: UTF8.self)) != nil)
        }
        // The hub's readers: each seed gets past the decoder and the checks (the target asserts the rest).
        for target in FuzzTarget.hubTargets {
            let all = try seeds(target)
            #expect(all.count >= 3, "Tests/Fuzz/corpus/\(target.rawValue) holds at least three seeds")
            for (index, bytes) in all.enumerated() {
                #expect(target.runHub(bytes), "\(target.rawValue) seed \(index) is refused")
            }
        }
    }
}
