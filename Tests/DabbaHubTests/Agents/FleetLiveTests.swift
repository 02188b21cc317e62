import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Logging
import Synchronization
import Testing

@testable import DabbaHub

/// `/v1/fleet/live` over a real socket, fed by real MQTT ingest.
@Suite(.serialized) struct FleetLiveTests {
    @Test func operatorsGetASnapshotThenUpdatesInOrderAndOthersAreRefused() async throws {
        let directory = try TestDirectory("fleet-live")
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let harness = try HubHarness(["mqtt-port": "\(broker.port)", "commit-interval-ms": "10"], directory: directory)
        defer { harness.close() }
        _ = try await harness.store.createAgent(id: "a-1", name: nil)
        let hub = try await HubComponents.make(
            configuration: harness.configuration, store: harness.store, logger: harness.logger, bcryptCost: 4)
        let app = buildApplication(hub: hub, logger: harness.logger)
        let publisher = try await TestSubscriber.start(port: broker.port, filter: "unused/#")
        defer { publisher.client.shutdown() }

        try await app.test(.live) { client in
            #expect(await eventually { hub.mqtt.isSubscribed })
            let op = Identity(userID: 1, role: .operator)
            let customer = Identity(userID: 2, role: .customer)
            // Without a ticket, with a customer's ticket, with a used ticket, or from a foreign origin: refused.
            for path in ["/v1/fleet/live", "/v1/fleet/live?ticket=\(try hub.auth.issueTicket(for: customer))"] {
                await #expect(throws: (any Error).self) { try await client.ws(path) { _, _, _ in } }
            }
            let ticket = try hub.auth.issueTicket(for: op)
            var headers = HTTPFields()
            headers[.origin] = "https://evil.example"
            await #expect(throws: (any Error).self) {
                try await client.ws("/v1/fleet/live?ticket=\(ticket)", configuration: .init(additionalHeaders: headers))
                { _, _, _ in }
            }

            let frames = Mutex<[String]>([])
            try await client.ws("/v1/fleet/live?ticket=\(try hub.auth.issueTicket(for: op))") { inbound, outbound, _ in
                var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                if case .text(let snapshot) = try await iterator.next() { frames.withLock { $0.append(snapshot) } }
                for seq in Int64(1)...20 {
                    let fix = Fix(
                        agent: "a-1", seq: seq, time: Timestamp.format(milliseconds: 1_795_082_400_000 + seq * 1000),
                        lat: 22.3 + Double(seq) * 1e-4, lon: 87.3, mode: 3)
                    _ = try publisher.client.publish(
                        topic: Topics.fix(agent: "a-1"), payload: fix.jsonBytes(), qos: .atLeastOnce)
                }
                // Until the last fix shows up (coalescing may merge intermediate ones), bounded: a watchdog closes
                // the socket if the server goes quiet for good (the generous deadline: only an absent fix trips it).
                let watchdog = Task {
                    guard (try? await Task.sleep(for: TestDeadline.generous)) != nil else { return }
                    try? await outbound.close(.goingAway, reason: "test timeout")
                }
                defer { watchdog.cancel() }
                while let message = try await iterator.next() {
                    guard case .text(let text) = message else { continue }
                    frames.withLock { $0.append(text) }
                    if text.contains(#""type":"position""#)
                        && (text.contains(#""seq":20,"#) || text.contains(#""seq":20}"#))
                    {
                        break
                    }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
            let received = frames.withLock { $0 }
            #expect(received.first?.contains(#""type":"snapshot""#) == true)
            let seqs = received.dropFirst().compactMap { text -> Int64? in
                guard let data = text.data(using: .utf8),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    object["type"] as? String == "position", let position = object["position"] as? [String: Any]
                else { return nil }
                return (position["seq"] as? NSNumber)?.int64Value
            }
            // Coalescing may skip intermediate positions for a slow reader, never reorder them.
            #expect(seqs.last == 20)
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "\(seqs)")
        }
    }

    @Test func aStalledSubscriberDoesNotSlowIngestAndGetsTheNewestPositionPerAgent() async throws {
        let h = try await IngestHarness(agents: ["a-1", "a-2"])
        defer { h.shutdown() }
        let stalled = h.feed.subscribe(maxPending: 100)
        defer { stalled.cancel() }
        for seq in Int64(1)...500 {
            for agent in ["a-1", "a-2"] {
                _ = try h.publisher.client.publish(
                    topic: Topics.fix(agent: agent), payload: IngestHarness.fix(agent, seq).jsonBytes(),
                    qos: .atLeastOnce)
            }
        }
        // Ingest commits and acks everything while nobody reads the subscription (a publish that waited for the
        // stalled reader would hold ingest for good: no elapsed-time bound is needed to see that).
        #expect(
            await eventually {
                h.ackedSeqs("a-1").count == 500 && h.ackedSeqs("a-2").count == 500
            })
        // The stalled client then gets one update per agent: the newest.
        let updates = try #require(await stalled.next())
        let newest = updates.compactMap { update -> (String, Int64)? in
            if case .position(let p) = update { return (p.agent, p.seq) }
            return nil
        }
        #expect(newest.count == 2)
        #expect(newest.allSatisfy { $0.1 == 500 })
    }
}

@Suite struct OriginTests {
    @Test func sameHostOrListedOriginsOnly() {
        #expect(FleetLiveController.originAllowed("http://hub.example:8080", host: "hub.example:8080", allowed: []))
        #expect(FleetLiveController.originAllowed("https://hub.example", host: "hub.example:8080", allowed: []))
        #expect(!FleetLiveController.originAllowed("https://evil.example", host: "hub.example:8080", allowed: []))
        #expect(
            FleetLiveController.originAllowed(
                "https://ops.example", host: "hub.example", allowed: ["https://ops.example"]))
        #expect(!FleetLiveController.originAllowed("not a url", host: "hub.example", allowed: []))
    }
}
