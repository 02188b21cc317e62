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
    ///
    /// The descriptor table is shared with the tests running in parallel: one of them may close a low descriptor
    /// between our fill and the client's `socket()`. So the test finds the client's own socket (the one connected to
    /// this test's broker) and, if it landed low, tries again (bounded).
    @Test func aSocketNumberedAbove1024ConnectsPublishesAndReceives() async throws {
        let broker = try await MosquittoBroker.started()
        var limit = rlimit()
        #expect(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0)
        if limit.rlim_cur < 1_400 {
            limit.rlim_cur = min(1_400, limit.rlim_max)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        var fillers: [Int32] = []
        defer { fillers.forEach { close($0) } }

        var tested = false
        for attempt in 1...8 where !tested {
            // Fill every free descriptor below 1100 (open() returns the lowest free one).
            for _ in 0..<1_300 {
                let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { break }
                fillers.append(fd)
                if fd >= 1_100 { break }
            }
            try #require((fillers.max() ?? 0) >= 1_100, "RLIMIT_NOFILE \(limit.rlim_cur) leaves too few descriptors")

            let client = RunningClient(
                MQTTConfiguration(port: broker.port, clientID: uniqueID("high-fd-\(attempt)")),
                subscriptions: ["dabba/test/high/#"])
            #expect(await client.waitConnected())
            #expect(await eventually { client.client.isSubscribed })
            let own = try socketsConnected(toPort: broker.port)
            guard let fd = own.first, own.count == 1, fd >= 1_024 else {
                await client.stop()
                continue
            }
            try await client.client.publishAndWait(
                MQTTMessage(topic: "dabba/test/high/a", string: "1", qos: .atLeastOnce))
            _ = try client.client.publish(topic: "dabba/test/high/b", payload: Array("2".utf8), qos: .atLeastOnce)
            #expect(await client.waitForEvents { $0.compactMap(\.message).count >= 2 && $0.contains { $0.publishedID != nil } })
            #expect(client.events.compactMap(\.message).map(\.payloadString) == ["1", "2"])
            await client.stop()
            tested = true
        }
        #expect(tested, "the client's socket never landed above 1023 in 8 attempts: the test did not test anything")
    }

    /// This process's descriptors that are TCP sockets connected to `port` on the remote side (from /proc/net/tcp and tcp6).
    private func socketsConnected(toPort port: Int) throws -> [Int32] {
        let tables = ["/proc/net/tcp", "/proc/net/tcp6"].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        let portHex = String(format: "%04X", port)
        var inodes: Set<String> = []
        for line in tables.flatMap({ $0.split(separator: "\n").dropFirst() }) {
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count > 9, columns[2].hasSuffix(":" + portHex), columns[3] == "01" else { continue }
            inodes.insert(String(columns[9]))
        }
        return try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap(Int32.init).filter { fd in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
                target.hasPrefix("socket:[")
            else { return false }
            return inodes.contains(String(target.dropFirst("socket:[".count).dropLast()))
        }.sorted()
    }
}
