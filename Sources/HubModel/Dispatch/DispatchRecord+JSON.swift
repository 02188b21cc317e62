import DabbaProtocol

extension DispatchRecord {
    /// The candidates as both stores keep them: a JSON array of `{"agent","cost","etaSeconds"}`, read back by
    /// `JSONDecoder` as `[DispatchCandidate]`. Written by `JSONWriter` (a round records 1,000 decisions, and
    /// `JSONEncoder` took ~6 ms of them). A non-finite cost or ETA throws `StoreError(.other)`, as `JSONEncoder` would.
    package func encodedCandidates() throws(StoreError) -> [UInt8] {
        var elements: [[UInt8]] = []
        elements.reserveCapacity(candidates.count)
        for candidate in candidates {
            guard candidate.cost.isFinite, candidate.etaSeconds.isFinite else {
                throw StoreError(
                    .other,
                    "dispatch decision candidates do not encode: \(candidate.agent) has cost \(candidate.cost), "
                        + "ETA \(candidate.etaSeconds) s")
            }
            var writer = JSONWriter(capacity: 64)
            writer.field("agent", candidate.agent)
            writer.field("cost", candidate.cost)
            writer.field("etaSeconds", candidate.etaSeconds)
            elements.append(writer.finish())
        }
        return JSONWriter.array(elements)
    }
}
