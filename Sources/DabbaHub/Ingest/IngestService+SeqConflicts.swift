import HubModel

extension IngestService {
    /// Counts the conflicts a commit recorded and logs one warning per agent (its seqs, the first few of them) —
    /// before the commit's acks go out.
    func report(conflicts: [SeqConflict.Key]) {
        guard !conflicts.isEmpty else { return }
        metrics.ingestSeqConflicts.increment(by: Int64(conflicts.count))
        for (agent, keys) in Dictionary(grouping: conflicts, by: \.agent).sorted(by: { $0.key < $1.key }) {
            let seqs = keys.map { "\($0.kind.rawValue) \($0.seq)" }
            logger.warning(
                "Seq arrived again with a different payload; the first is kept, the second is in seq_conflicts",
                metadata: [
                    "agent.id": "\(agent)", "ingest.seq": "\(keys[0].seq)", "ingest.conflicts": "\(keys.count)",
                    "ingest.conflict_seqs": "\(seqs.prefix(20).joined(separator: ", "))",
                ])
        }
    }
}
