import DabbaProtocol
import HubModel
import Testing

/// The memo of decoded agent states answers exactly what decoding the stored bytes would, whatever it kept.
@Suite struct AgentStateMemoTests {
    static func bytes(_ state: AgentState) -> [UInt8] { PayloadCoding.encode(state) }

    @Test func aStateIsDecodedFromTheBytesGivenEvenWhenTheAgentsStateChanged() throws {
        let memo = AgentStateMemo()
        let online = AgentState(agent: "a-1", online: true, gps: "fix", outboxDepth: 3)
        let offline = AgentState(agent: "a-1", online: false, gps: "no_fix")
        #expect(try memo.state(agent: "a-1", bytes: Self.bytes(online)) == online)
        #expect(try memo.state(agent: "a-1", bytes: Self.bytes(online)) == online)
        // New bytes for the same agent: the new state, never the kept one.
        #expect(try memo.state(agent: "a-1", bytes: Self.bytes(offline)) == offline)
        #expect(try memo.state(agent: "a-1", bytes: Self.bytes(online)) == online)
        // Another agent's identical bytes decode on their own.
        let other = AgentState(agent: "a-2", online: true)
        #expect(try memo.state(agent: "a-2", bytes: Self.bytes(other)) == other)
        #expect(memo.count == 2)
    }

    @Test func bytesThatDoNotDecodeThrowEveryTimeAndLeaveTheKeptStateAlone() throws {
        let memo = AgentStateMemo()
        let state = AgentState(agent: "a-1", online: true)
        _ = try memo.state(agent: "a-1", bytes: Self.bytes(state))
        for _ in 0..<2 {
            #expect(throws: PayloadError.self) { try memo.state(agent: "a-1", bytes: Array("{\"online\":".utf8)) }
        }
        #expect(try memo.state(agent: "a-1", bytes: Self.bytes(state)) == state)
    }

    @Test func itKeepsAtMostItsCapacity() throws {
        let memo = AgentStateMemo(capacity: 3)
        for i in 0..<10 {
            let state = AgentState(agent: "a-\(i)", online: i % 2 == 0)
            #expect(try memo.state(agent: state.agent, bytes: Self.bytes(state)) == state)
            #expect(memo.count <= 3)
        }
        #expect(memo.count >= 1)
    }
}
