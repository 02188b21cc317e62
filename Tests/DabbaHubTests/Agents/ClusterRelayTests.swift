import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubModel
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Logging
import Synchronization
import Testing

@testable import DabbaHub

/// Several hubs in one ingest group: the relay of positions and agent states between them (``ClusterRelay``).
@Suite(.serialized) struct ClusterRelayTests {
    static func position(_ agent: String, _ seq: Int64, time: Int64? = nil) -> StoredPosition {
        StoredPosition(
            agent: agent, seq: seq, time: time ?? (1_795_082_400_000 + seq * 1000), lat: 12.97, lon: 77.6, speed: 4)
    }

    /// A relay over a client that never connects (what it receives is all these tests look at).
    static func relay(hub: String = "hub-b") -> (ClusterRelay, FleetFeed, HubMetrics) {
        let logger = Logger(label: "relay", factory: { _ in SwiftLogNoOpLogHandler() })
        let mqtt = MQTTClient(configuration: MQTTConfiguration(port: FreePort.next(), clientID: "t"), logger: logger)
        let (feed, metrics) = (FleetFeed(), HubMetrics())
        return (ClusterRelay(hub: hub, mqtt: mqtt, feed: feed, metrics: metrics, logger: logger), feed, metrics)
    }

    static func message(from hub: String, _ payload: [UInt8]) -> MQTTMessage {
        MQTTMessage(topic: ClusterRelay.topic(hub: hub), payload: payload, qos: .atLeastOnce)
    }

    @Test func anotherHubsUpdatesReachTheFeedInOrderAndItsOwnAreIgnored() throws {
        let (relay, feed, _) = Self.relay()
        let watched = Mutex<[FleetFeed.Update]>([])
        let watch = feed.watch(agent: "a-1") { update in watched.withLock { $0.append(update) } }
        defer { watch.cancel() }
        func send(_ from: String, _ positions: [StoredPosition], _ states: [RelayedState] = []) -> Int {
            relay.received(
                Self.message(
                    from: from, PayloadCoding.encode(RelayMessage(hub: from, positions: positions, states: states))))
        }
        #expect(
            send("hub-a", [Self.position("a-1", 5)], [.init(state: AgentState(agent: "a-1", online: true), at: 100)])
                == 2)
        // Older than what the feed shows (a fix another hub relayed late, a state received earlier): dropped.
        #expect(
            send("hub-c", [Self.position("a-1", 4)], [.init(state: AgentState(agent: "a-1", online: false), at: 99)])
                == 0)
        // This hub's own messages, echoed by the broker: ignored whatever they hold.
        #expect(send("hub-b", [Self.position("a-1", 9)]) == 0)
        #expect(send("hub-c", [Self.position("a-1", 6)]) == 1)
        #expect(feed.latestPosition(agent: "a-1")?.seq == 6)
        #expect(feed.snapshot().states == [AgentState(agent: "a-1", online: true)])
        let seqs = watched.withLock { $0 }.compactMap { update -> Int64? in
            if case .position(let p) = update { return p.seq }
            return nil
        }
        #expect(seqs == [5, 6])
    }

    @Test func malformedOrOversizedRelayMessagesAreCountedAndChangeNothing() throws {
        let (relay, feed, metrics) = Self.relay()
        let good = RelayMessage(hub: "hub-a", positions: [Self.position("a-1", 1)], states: [])
        var wrongVersion = good
        wrongVersion.v = 2
        var badLatitude = good
        badLatitude.positions[0].lat = 91
        var badAgent = good
        badAgent.positions[0].agent = "a/1"
        var badSeq = good
        badSeq.positions[0].seq = 0
        let tooMany = RelayMessage(
            hub: "hub-a", positions: (1...Int64(ClusterRelay.maxEntries + 1)).map { Self.position("a-1", $0) },
            states: [])
        let cases: [(String, MQTTMessage)] = [
            ("not_json", Self.message(from: "hub-a", Array("{\"v\":1,".utf8))),
            ("too_large", Self.message(from: "hub-a", [UInt8](repeating: 0x20, count: RelayMessage.maxPayload + 1))),
            ("unsupported_version", Self.message(from: "hub-a", PayloadCoding.encode(wrongVersion))),
            // A message naming another hub than its topic.
            ("agent_mismatch", Self.message(from: "hub-c", PayloadCoding.encode(good))),
            ("invalid_field", Self.message(from: "hub-a", PayloadCoding.encode(badLatitude))),
            ("invalid_field", Self.message(from: "hub-a", PayloadCoding.encode(badAgent))),
            ("invalid_field", Self.message(from: "hub-a", PayloadCoding.encode(badSeq))),
            ("too_large", Self.message(from: "hub-a", PayloadCoding.encode(tooMany))),
            ("unknown_topic", MQTTMessage(topic: "dabba/v1/hubs/x/y/fleet", payload: [], qos: .atLeastOnce)),
        ]
        for (_, message) in cases { #expect(relay.received(message) == 0) }
        for (reason, count) in [
            ("not_json", 1.0), ("too_large", 2), ("unsupported_version", 1), ("agent_mismatch", 1),
            ("invalid_field", 3), ("unknown_topic", 1),
        ] {
            let series = #"dabba_relay_rejected_total{reason="\#(reason)"}"#
            #expect(metricValue(metrics.render(), series) == count, "\(reason)")
        }
        #expect(feed.snapshot().positions.isEmpty)
        // The same bytes, well formed, pass.
        #expect(relay.received(Self.message(from: "hub-a", PayloadCoding.encode(good))) == 1)
    }

    @Test func aLargeFlushIsSplitIntoMessagesUnderThePayloadLimit() {
        let chunks = RelayMessage.chunks(
            hub: "h", positions: (1...Int64(900)).map { Self.position("a-\($0)", 1) },
            states: [.init(state: AgentState(agent: "a-1", online: true), at: 1)], maxEntries: 400)
        #expect(chunks.map { $0.positions.count + $0.states.count } == [400, 400, 101])
        #expect(chunks.allSatisfy { PayloadCoding.encode($0).count <= RelayMessage.maxPayload })
    }
}
