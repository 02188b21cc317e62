/// Counters the agent keeps for `dabba-agent status` and its logs: every rejection and failure is counted.
public struct AgentCounters: Sendable, Codable, Equatable {
    public var fixesRecorded: Int64 = 0
    public var eventsRecorded: Int64 = 0
    public var livePublished: Int64 = 0
    public var backlogMessages: Int64 = 0
    public var backlogFixes: Int64 = 0
    /// Rows the broker has PUBACKed (both lanes; a row sent again counts again).
    public var rowsPubacked: Int64 = 0
    public var rowsAcked: Int64 = 0
    public var resentAfterTimeout: Int64 = 0
    public var publishFailed: Int64 = 0
    /// Publishes the broker refused (PUBACK reason ≥ 0x80, or a message it cannot take even as one fix).
    public var publishRefused: Int64 = 0
    /// WAL checkpoints that could not finish or failed while running (see `AgentEngine.checkWAL`).
    public var checkpointFailures: Int64 = 0
    /// Acks naming seqs this agent never issued (ignored).
    public var ackUnissued: Int64 = 0
    /// Times the seq sidecar could not be written before a seq was used.
    public var seqReservationFailures: Int64 = 0
    public var ackMalformed: Int64 = 0
    public var tasksMalformed: Int64 = 0
    public var gpsMalformed: Int64 = 0
    public var gpsReconnects: Int64 = 0
    /// Fixes refused because they were dated far ahead of the synchronised system clock.
    public var gpsFutureFixes: Int64 = 0
    public var diskFull: Int64 = 0
    public var outboxErrors: Int64 = 0
    public var controlErrors: Int64 = 0
    public init() {}
}
