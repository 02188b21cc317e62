import DabbaMQTT
import DabbaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension MQTTTests {
    /// libmosquitto's `mosquitto_loop` uses select() and refuses sockets numbered 1024 (FD_SETSIZE) and above, the
    /// numbers a hub with thousands of WebSockets gets when it reconnects to the broker. The client's own loop polls.
    @Test func aSocketNumberedAbove1024ConnectsPublishesAndReceives() async throws {
        let broker = try await MosquittoBroker.started()
        var limit = rlimit()
        #expect(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0)
        if limit.rlim_cur < 1_400 {
            limit.rlim_cur = min(1_400, limit.rlim_max)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        // Take descriptors up to 1100, so the client's socket (made on connect) is numbered above FD_SETSIZE.
        var fillers: [Int32] = []
        defer { fillers.forEach { close($0) } }
        for _ in 0..<1_200 {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { break }
            fillers.append(fd)
            if fd >= 1_100 { break }
        }
        try #require((fillers.last ?? 0) >= 1_100, "RLIMIT_NOFILE \(limit.rlim_cur) leaves too few descriptors")

        let client = RunningClient(
            MQTTConfiguration(port: broker.port, clientID: uniqueID("high-fd")), subscriptions: ["dabba/test/high/#"])
        #expect(await client.waitConnected())
        #expect(await eventually { client.client.isSubscribed })
        let highSockets = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap(Int32.init)
            .filter { fd in fd >= 1_024 && ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"))?.hasPrefix("socket:") ?? false) }
        #expect(!highSockets.isEmpty, "no socket above 1023: the test did not test anything")

        try await client.client.publishAndWait(MQTTMessage(topic: "dabba/test/high/a", string: "1", qos: .atLeastOnce))
        _ = try client.client.publish(topic: "dabba/test/high/b", payload: Array("2".utf8), qos: .atLeastOnce)
        #expect(await client.waitForEvents { $0.compactMap(\.message).count >= 2 && $0.contains { $0.publishedID != nil } })
        #expect(client.events.compactMap(\.message).map(\.payloadString) == ["1", "2"])
        await client.stop()
    }
}
