/// The hub's decode of stored agent states, on the same terms as `Fix.parse`: `AgentState.parse` reads the plain form
/// the agent and the hub write (a flat object of scalars, keys in any order, unknown scalar keys skipped) in one pass,
/// and hands anything else — and every rejection — to `JSONDecoder` through `PayloadCoding.decode`. What it accepts,
/// `JSONDecoder` accepts with the same value (tests compare the two). A dispatch round reads every agent's state; the
/// first after the hub starts decodes them all (BENCHMARKS.md, the hub's dispatch round).
extension AgentState {
    public static func parse(_ bytes: [UInt8], maxBytes: Int = 1 << 20) throws(PayloadError) -> AgentState {
        try PayloadCoding.decode(AgentState.self, from: bytes, maxBytes: maxBytes, fast: fastParse)
    }

    /// The plain form of a state, or nil to let `JSONDecoder` decide.
    package static func fastParse(_ bytes: [UInt8]) -> AgentState? { FlatScanner.whole(bytes) { $0.agentState() } }
}

extension FlatScanner {
    /// One plain state object from the current position.
    mutating func agentState() -> AgentState? {
        var v: Int64?, agent: String?, online: Bool?
        var time: String??, gps: String??, oldestUnsentAge: Double??
        var mode: Int64??, outboxDepth: Int64??, lastSeq: Int64??, thinned: Int64??
        let wellFormed = object { s, key in
            if s.equals(key, "v") {
                return s.uniqueInt64(&v)
            } else if s.equals(key, "agent") {
                return s.uniqueString(&agent)
            } else if s.equals(key, "online") {
                return s.uniqueBool(&online)
            } else if s.equals(key, "time") {
                return s.optionalString(&time)
            } else if s.equals(key, "gps") {
                return s.optionalString(&gps)
            } else if s.equals(key, "mode") {
                return s.optionalInt64(&mode)
            } else if s.equals(key, "outboxDepth") {
                return s.optionalInt64(&outboxDepth)
            } else if s.equals(key, "oldestUnsentAge") {
                return s.optionalDouble(&oldestUnsentAge)
            } else if s.equals(key, "lastSeq") {
                return s.optionalInt64(&lastSeq)
            } else if s.equals(key, "thinned") {
                return s.optionalInt64(&thinned)
            }
            return s.skipScalar()
        }
        guard wellFormed, let v, let agent, let online, let version = Int(exactly: v) else { return nil }
        // `Int` fields: an integer beyond Int's range is JSONDecoder's to refuse.
        func int(_ value: Int64??) -> Int?? {
            guard let value, let value else { return .some(nil) }
            return Int(exactly: value).map { .some($0) }
        }
        guard let mode = int(mode), let outboxDepth = int(outboxDepth) else { return nil }
        var state = AgentState(
            agent: agent, online: online, time: time ?? nil, gps: gps ?? nil, mode: mode, outboxDepth: outboxDepth,
            oldestUnsentAge: oldestUnsentAge ?? nil, lastSeq: lastSeq ?? nil, thinned: thinned ?? nil)
        state.v = version
        return state
    }
}
