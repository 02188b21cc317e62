import DabbaHub
import DabbaProtocol
import DabbaTestSupport
import Testing

extension IngestTests {
    /// A batch committed while the broker is gone: the rows are stored, the ack that cannot be handed over is
    /// counted (`dabba_ingest_ack_publish_failures_total`), and nothing is lost — the agent's resend is acked later.
    @Test func anAckTheBrokerCannotTakeIsCountedAndTheRowsStayStored() async throws {
        // The commit must come after the broker is gone: the interval is long and the commit is forced by stopping
        // the ingest service (it commits what it received). If a loaded machine let the interval pass first (an ack
        // then went out), the set-up starts again — at most three times.
        for attempt in 1...3 {
            let h = try await IngestHarness(overrides: ["commit-interval-ms": "10000"])
            defer { h.shutdown() }
            try await h.publish(Topics.fix(agent: "a-1"), bytes: PayloadCoding.encode(IngestHarness.fix("a-1", 7)))
            #expect(await eventually { h.feed.latestPosition(agent: "a-1")?.seq == 7 }, "received, not yet committed")
            h.broker.stop()
            #expect(await eventually { !h.mqtt.isConnected })
            guard h.ackedSeqs("a-1").isEmpty else {
                if attempt == 3 { Issue.record("the commit interval passed before the broker stopped, three times") }
                continue
            }
            h.tasks[1].cancel()  // the ingest service commits what it holds as it stops
            await h.tasks[1].value
            #expect(h.metric("dabba_ingest_ack_publish_failures_total") == 1)
            #expect(try await h.store.positionCount(agent: "a-1") == 1, "committed although not acked")
            return
        }
    }
}
