import DabbaProtocol

/// The decoders that take untrusted bytes (a device's MQTT payloads, the hub's acks and task answers as the agent
/// reads them, and the hub's own readers of device messages, HTTP bodies, headers, cursors and query parameters:
/// `FuzzTarget+Hub.swift`), each as a fuzz target: `make fuzz` runs them under libFuzzer with AddressSanitizer, and
/// `FuzzRegressionTests` replays every stored corpus input and crash reproducer through them in the normal suite.
///
/// A target passes when its decoder returns or throws `PayloadError` for any input; a trap (overflow, index out of
/// range, force unwrap) or a memory error is the failure the fuzzer reports. Where a decoder accepts an input, the
/// target also runs what the hub and agent do next with the value (the ack builder over its seqs, the time parser), so
/// a hostile value that gets through a decoder and traps later is found too.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `Fix.parse`, the fast parser of `…/fix` payloads (and of each backlog entry on the agent's side).
    case fix
    /// `BacklogMessage.parse` (`…/backlog`), its fast path checked against `JSONDecoder` on every input.
    case backlog
    /// `AgentEvent` (`…/events`) and the checks the hub applies to it.
    case event
    /// `AgentState` (`…/state`), the stored states' fast path (`AgentState.parse`) checked against `JSONDecoder` on every
    /// input.
    case state
    /// `AckMessage.parse` (`…/ack`, read by the agent).
    case ack
    /// `TaskSyncRequest.parse` (`…/sync`, read by the hub) and `TaskSyncAnswer.parse` (read by the agent).
    case sync
    /// `JSONValue.parse`, the strict parser under the ack and sync readers.
    case json
    /// `Timestamp.parse`, every payload's `time`.
    case timestamp
    /// The hub's OwnTracks reader (`IngestValidator.checkOwnTracks`).
    case owntracks
    /// The hub's checks of a device's fix, backlog, event, state and sync messages (`IngestValidator.check`).
    case ingest
    /// The payment webhook: `Dabba-Signature` and body as the test provider verifies them; signer against checker.
    case signature
    /// `POST /v1/orders`: the body, its checks and the server-side pricing (`OrderPricing`).
    case order
    /// The payment routes' bodies (authorize, refund, cash hand-in) and their checks (`PaymentRequests`).
    case payment
    /// The menu routes' bodies (sections, new and updated items) and their validation (`MenuRequests`).
    case menu
    /// Every listing's cursor (`ListingCursor`).
    case cursor
    /// The REST routes' query parameters (limits, cursors, times, points, filters, currency, date, amount).
    case query

    /// Runs one input. Traps (the fuzzer's finding) when a decoder crashes or accepts a value outside its bounds.
    public func run(_ bytes: [UInt8]) {
        switch self {
        case .fix:
            if let fix = try? Fix.parse(bytes) { Self.check(fix) }
        case .backlog:
            if let backlog = try? BacklogMessage.parse(bytes) {
                for fix in backlog.fixes { Self.check(fix) }
            }
            // The fast path accepts only what JSONDecoder accepts, with the same value.
            if let fast = BacklogMessage.fastParse(bytes) {
                precondition(
                    (try? PayloadCoding.decode(BacklogMessage.self, from: bytes)) == fast,
                    "the fast backlog parser accepted what JSONDecoder decides differently")
            }
        case .event:
            if let event = try? PayloadCoding.decode(AgentEvent.self, from: bytes) {
                _ = Timestamp.parse(event.time)
                _ = event.type.isShift
            }
        case .state:
            let decoded = try? PayloadCoding.decode(AgentState.self, from: bytes)
            // The fast path accepts only what JSONDecoder accepts, with the same value.
            if let fast = AgentState.fastParse(bytes) {
                precondition(decoded == fast, "the fast state parser accepted what JSONDecoder decides differently")
            }
        case .ack:
            if let ack = try? AckMessage.parse(bytes), let ranges = try? ack.ranges() {
                for range in ranges { precondition(range.lowerBound >= 1, "ack range below 1 accepted") }
            }
        case .sync:
            _ = try? TaskSyncRequest.parse(bytes, agent: "a-1")
            _ = try? TaskSyncAnswer.parse(bytes, agent: "a-1")
        case .json:
            _ = try? JSONValue.parse(bytes)
        case .timestamp:
            if let millis = Timestamp.parse(String(decoding: bytes, as: UTF8.self)) {
                // Whatever parses formats back without trapping (the hub formats stored times for its API).
                _ = Timestamp.format(milliseconds: millis)
            }
        case .owntracks, .ingest, .signature, .order, .payment, .menu, .cursor, .query:
            runHub(bytes)
        }
    }

    /// What the hub does next with an accepted fix: builds acks over its seq (and the next ones: `seq + 1` traps at
    /// `Int64.max` unless checked) and parses its time.
    static func check(_ fix: Fix) {
        let ranges = AckMessage.ranges(of: [fix.seq, fix.seq, fix.seq &- 1, fix.seq &+ 1])
        precondition(!ranges.isEmpty, "no ack range for seq \(fix.seq)")
        _ = Timestamp.parse(fix.time)
    }
}
