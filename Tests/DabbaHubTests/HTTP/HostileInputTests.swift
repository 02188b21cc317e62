import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaSQLite
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import Logging
import Testing

@testable import DabbaHub

/// The exact inputs that used to end the hub with an arithmetic-overflow trap, sent through the real paths (HTTP and
/// MQTT) to the real `dabba-hub serve`: each is refused with a clear 4xx or a counted rejection, and the same
/// process goes on answering and ingesting.
@Suite(.serialized) struct HostileInputTests {
    @Test func overflowingNumbersFromAnyoneAreRefusedAndTheRunningHubKeepsGoing() async throws {
        let directory = try TestDirectory("hub-hostile")
        defer { directory.remove() }
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let database = directory.path("hub.db")
        // A cash-on-delivery order picked up by a-1 (written before the hub runs).
        let total: Int64
        do {
            var logger = Logger(label: "setup")
            logger.logLevel = .critical
            let store = try SQLiteHubStore(path: database, logger: logger)
            let world = PaymentWorld(store: store)
            let customers = try await seedPaymentWorld(store, customers: 1, agents: ["a-1", "a-2"])
            total = try await world.order("o-cod", customer: customers[0], method: .cod).total
            try await world.move("o-cod", [.accept, .assign, .pickup])
            store.close()
        }
        let httpPort = FreePort.next()
        let hub = try ManagedProcess(
            name: "hub", executable: try BuiltProducts.path(of: "dabba-hub"),
            arguments: [
                "serve", "--config", "/dev/null", "--database", "sqlite:\(database)", "--mqtt-port", "\(broker.port)",
                "--http-port", "\(httpPort)", "--commit-interval-ms", "20", "--dispatch-interval", "0.2",
                "--owntracks-map", "ravi/phone=a-1", "--log-level", "warning", "--payment-provider", "test",
            ], logDirectory: directory.url)
        defer { hub.stop() }
        try await FreePort.waitUntilListening(httpPort)
        func http(_ method: String, _ path: String, headers: [String] = [], body: String = "") throws -> (Int, String) {
            let (status, data) = try LoopbackHTTP.exchange(
                port: httpPort, method: method, path: path, body: Data(body.utf8), headers: headers, timeout: 30)
            return (status, String(decoding: data, as: UTF8.self))
        }
        func metric(_ line: String) throws -> Bool { try http("GET", "/metrics").1.contains(line) }

        // Anonymous: a webhook signature whose timestamp makes `now - t` overflow, both ways.
        for t in ["-9223372036854775808", "9223372036854775807"] {
            let (status, text) = try http(
                "POST", "/v1/payments/webhooks/test", headers: ["Dabba-Signature: t=\(t),v1=00"], body: "{}")
            #expect(status == 400 && text.contains("tolerance"), "t=\(t): \(status) \(text)")
        }
        #expect(try http("GET", "/v1/ping").0 == 200)

        // Devices: the ingest service is subscribed once a first fix of a-2 is acked.
        let client = try await TestSubscriber.start(port: broker.port, filter: "dabba/v1/agents/+/ack")
        defer { client.client.shutdown() }
        func publish(_ topic: String, _ payload: String) async throws {
            try await client.client.publishAndWait(
                MQTTMessage(topic: topic, payload: Array(payload.utf8), qos: .atLeastOnce))
        }
        func acked(_ agent: String) -> Set<Int64> {
            var seqs = Set<Int64>()
            for message in client.messages where message.topic == Topics.ack(agent: agent) {
                guard let ranges = try? PayloadCoding.decode(AckMessage.self, from: message.payload).ranges() else {
                    continue
                }
                for range in ranges { seqs.insert(range.lowerBound); seqs.insert(range.upperBound) }
            }
            return seqs
        }
        func fix(_ agent: String, _ seq: String) -> String {
            #"{"v":1,"agent":"\#(agent)","seq":\#(seq),"time":"2026-11-25T10:00:00.000Z","lat":22.3,"lon":87.3}"#
        }
        try await publish(Topics.fix(agent: "a-2"), fix("a-2", "1"))
        #expect(await eventually { acked("a-2").contains(1) }, "ingest never acked a-2's first fix")

        // A 19-digit seq above Int64.max (the fast parser's `value * 10 + d` trapped), and in `v` and `mode`.
        try await publish(Topics.fix(agent: "a-1"), fix("a-1", "9999999999999999999"))
        try await publish(
            Topics.fix(agent: "a-1"),
            #"{"v":9999999999999999999,"agent":"a-1","seq":5,"time":"2026-11-25T10:00:00Z","lat":1,"lon":2}"#)
        try await publish(
            Topics.fix(agent: "a-1"),
            #"{"v":1,"agent":"a-1","seq":6,"time":"2026-11-25T10:00:00Z","lat":1,"lon":2,"mode":9999999999999999999}"#)
        // Two fixes with seq Int64.max in one backlog message (the ack builder's `upperBound + 1` trapped).
        let max = Int64.max
        try await publish(
            Topics.backlog(agent: "a-1"),
            #"{"v":1,"agent":"a-1","fixes":[\#(fix("a-1", "\(max)")),\#(fix("a-1", "\(max)"))]}"#)
        // OwnTracks with a tst whose × 1000 overflows.
        try await publish("owntracks/ravi/phone", #"{"_type":"location","lat":22.31,"lon":87.31,"tst":\#(max)}"#)
        // A delivery reported with cashCollected Int64.max (the payment reactor's ledger total trapped, on every
        // restart), then the real one.
        let bogus = AgentEvent(
            agent: "a-1", seq: 10, time: Timestamp.format(milliseconds: wallClockMilliseconds()), order: "o-cod",
            type: .delivered, cashCollected: .max)
        try await publish(Topics.events(agent: "a-1"), String(decoding: bogus.jsonBytes(), as: UTF8.self))
        #expect(await eventually { (try? metric(#"dabba_device_events_total{result="invalid"} 1"#)) == true })

        var real = bogus
        real.seq = 11
        real.cashCollected = total
        try await publish(Topics.events(agent: "a-1"), String(decoding: real.jsonBytes(), as: UTF8.self))
        try await publish(Topics.fix(agent: "a-2"), fix("a-2", "2"))  // a sentinel behind all of the above
        #expect(await eventually { acked("a-2").contains(2) && acked("a-1").isSuperset(of: [max, 10, 11]) })

        #expect(hub.isRunning, "the hub died: \(hub.output().suffix(2_000))")
        #expect(try http("GET", "/v1/ping").0 == 200)
        #expect(!acked("a-1").contains(5) && !acked("a-1").contains(6), "refused fixes are not acked")
        let metrics = try http("GET", "/metrics").1
        // The 19-digit seq, v and mode: JSONDecoder refuses a number beyond Int64 as a whole-document error,
        // counted as not_json. The OwnTracks tst: invalid_field. (The Int64.max delivery is a device event.)
        #expect(metrics.contains(#"dabba_ingest_rejected_total{reason="not_json"} 3"#), "\(metrics)")
        #expect(metrics.contains(#"dabba_ingest_rejected_total{reason="invalid_field"} 1"#), "\(metrics)")
        let reader = try SQLiteConnection(path: database, readOnly: true)
        try reader.execute("PRAGMA busy_timeout = 5000")
        #expect(try reader.scalarInt("SELECT COUNT(*) FROM positions WHERE agent = 'a-1' AND seq = \(max)") == 1)
        // The real delivery is applied and its cash posted by the reactor; the bogus one never was.
        #expect(
            await eventually {
                let posted = try? reader.scalarInt(
                    """
                    SELECT COUNT(*) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
                    WHERE t.order_id = 'o-cod' AND e.amount = \(total)
                    """)
                return (posted ?? 0) > 0
            }, "the reactor posted no cash for the real delivery")
        #expect(try reader.scalarInt("SELECT COUNT(*) FROM ledger_entries WHERE amount > \(Money.maxAmount)") == 0)
        #expect(hub.isRunning)
    }
}
