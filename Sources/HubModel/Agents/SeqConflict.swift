import DabbaProtocol
import Foundation

/// A fix or device event that arrived under an `(agent, seq)` the hub had already stored with a different payload.
///
/// Seqs are never reused by a healthy agent, so this means the agent lost its newest rows and issued a seq again
/// (see DESIGN.md, delivery guarantee). The hub keeps the first row as stored (the position, or the event
/// dispatch applies), keeps the second here for operators (`GET /v1/agents/{id}/seq-conflicts`), counts it
/// (`dabba_ingest_seq_conflicts_total`) and acks the seq only once this record is committed: nothing is dropped
/// silently. An identical redelivery (the normal QoS 1 duplicate) is not a conflict, and the same conflicting
/// payload arriving again is recorded once.
package struct SeqConflict: Sendable, Equatable {
    /// Which lane conflicted: fixes (`positions`) or device events (`events`).
    package enum Kind: String, Sendable, Hashable {
        case fix, event
    }

    /// One side of a conflict, as the hub understood it.
    package enum Payload: Sendable, Equatable {
        case fix(StoredPosition)
        case event(AgentEvent)
    }

    /// A conflict just recorded by a commit: enough for the counter and the log line.
    package struct Key: Sendable, Hashable {
        package var agent: String
        package var seq: Int64
        package var kind: Kind

        package init(agent: String, seq: Int64, kind: Kind) {
            self.agent = agent
            self.seq = seq
            self.kind = kind
        }
    }

    /// Increasing in the order conflicts were recorded (the paging cursor).
    package var id: Int64
    package var agent: String
    package var seq: Int64
    package var kind: Kind
    /// The row kept under the seq (what the hub stored first).
    package var stored: Payload
    /// The row that arrived later under the same seq.
    package var arriving: Payload
    /// When the hub committed the conflict (UTC milliseconds).
    package var receivedAt: Int64

    package init(
        id: Int64, agent: String, seq: Int64, kind: Kind, stored: Payload, arriving: Payload, receivedAt: Int64
    ) {
        self.id = id
        self.agent = agent
        self.seq = seq
        self.kind = kind
        self.stored = stored
        self.arriving = arriving
        self.receivedAt = receivedAt
    }

    /// The bytes a fix is kept as in `seq_conflicts`: JSON with sorted keys, so the same fix always gives the same
    /// bytes (the table's uniqueness on the arriving payload relies on it).
    package static func encode(_ position: StoredPosition) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Encoding a StoredPosition cannot fail: ingest only stores finite numbers.
        return (try? Array(encoder.encode(position))) ?? Array("{}".utf8)
    }

    /// True when an event arriving under a stored seq is the same event (a redelivery): the same bytes, or the
    /// same time, order, type and fields once decoded. Anything else, an undecodable payload included, differs.
    package static func sameEvent(
        stored: (time: Int64, order: String, type: String, payload: [UInt8]), arriving: DeviceEvent
    ) -> Bool {
        if stored.payload == arriving.payload { return true }
        guard stored.time == arriving.time, stored.order == arriving.order, stored.type == arriving.type else {
            return false
        }
        do throws(PayloadError) {
            let a = try PayloadCoding.decode(AgentEvent.self, from: stored.payload)
            let b = try PayloadCoding.decode(AgentEvent.self, from: arriving.payload)
            return a.cashCollected == b.cashCollected && a.reason == b.reason
        } catch {
            return false
        }
    }
}

/// What one ingest commit did.
package struct StoreReceipt: Sendable, Equatable {
    /// Per agent, every seq of the batch that is now durably accounted for (stored new, stored before, or kept as a
    /// conflict): exactly what the ack names.
    package var committed: [String: [Int64]] = [:]
    /// Conflicts this commit recorded (a conflict already recorded earlier is not repeated).
    package var conflicts: [SeqConflict.Key] = []

    package init(committed: [String: [Int64]] = [:], conflicts: [SeqConflict.Key] = []) {
        self.committed = committed
        self.conflicts = conflicts
    }
}

extension SeqConflict {
    /// A conflict as a backend stored it: `kind` its name, `stored`/`arriving` the two payloads' stored JSON. A row
    /// that no longer decodes is `corrupt` (naming the row), never skipped.
    package init(
        storedRow id: Int64, agent: String, seq: Int64, kind kindName: String, stored: [UInt8], arriving: [UInt8],
        receivedAt: Int64
    ) throws(StoreError) {
        guard let kind = Kind(rawValue: kindName) else {
            throw StoreError(.corrupt, "seq_conflicts \(id): kind \(kindName)")
        }
        func payload(_ bytes: [UInt8]) throws(PayloadError) -> Payload {
            switch kind {
            case .fix: .fix(try PayloadCoding.decode(StoredPosition.self, from: bytes))
            case .event: .event(try PayloadCoding.decode(AgentEvent.self, from: bytes))
            }
        }
        do throws(PayloadError) {
            self.init(
                id: id, agent: agent, seq: seq, kind: kind, stored: try payload(stored),
                arriving: try payload(arriving), receivedAt: receivedAt)
        } catch {
            throw StoreError(.corrupt, "seq_conflicts \(id): \(error.message)")
        }
    }
}
