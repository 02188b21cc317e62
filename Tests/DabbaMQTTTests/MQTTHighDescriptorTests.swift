import DabbaMQTT
import DabbaTestSupport
import Foundation
import Synchronization
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
        // Take every free descriptor below 1100 (open() returns the lowest free one), and keep taking the ones
        // other tests free while the client connects, so that its socket is numbered above FD_SETSIZE.
        let filler = DescriptorFiller(below: 1_100)
        defer { filler.stopAndClose() }
        try #require(filler.fill(), "RLIMIT_NOFILE \(limit.rlim_cur) leaves too few descriptors")

        var landed: [[Int32]] = []
        for attempt in 1...8 {
            filler.fill()
            filler.keepFilling()
            let client = RunningClient(
                MQTTConfiguration(port: broker.port, clientID: uniqueID("high-fd-\(attempt)")),
                subscriptions: ["dabba/test/high/#"])
            #expect(await client.waitConnected())
            #expect(await eventually { client.client.isSubscribed })
            filler.pause()
            let own = try socketsConnected(toPort: broker.port)
            landed.append(own)
            guard let fd = own.first, own.count == 1, fd >= 1_024 else {
                await client.stop()
                continue
            }
            try await client.client.publishAndWait(
                MQTTMessage(topic: "dabba/test/high/a", string: "1", qos: .atLeastOnce))
            _ = try client.client.publish(topic: "dabba/test/high/b", payload: Array("2".utf8), qos: .atLeastOnce)
            #expect(
                await client.waitForEvents {
                    $0.compactMap(\.message).count >= 2 && $0.contains { $0.publishedID != nil }
                })
            #expect(client.events.compactMap(\.message).map(\.payloadString) == ["1", "2"])
            await client.stop()
            return
        }
        Issue.record(
            "the client's socket never landed above 1023 in 8 attempts (its sockets: \(landed)): the test did not test anything"
        )
    }

    /// The whole of a /proc file (they report size 0, and Foundation's readers stop at the first page).
    private func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        for _ in 0..<10_000 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            bytes += chunk[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// This process's descriptors that are TCP sockets connected to `port` on the remote side (from /proc/net/tcp and tcp6).
    private func socketsConnected(toPort port: Int) throws -> [Int32] {
        let tables = ["/proc/net/tcp", "/proc/net/tcp6"].compactMap(readProcFile)
        let portHex = String(format: "%04X", port)
        var inodes: Set<String> = []
        for line in tables.flatMap({ $0.split(separator: "\n").dropFirst() }) {
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count > 9, columns[2].hasSuffix(":" + portHex), columns[3] == "01" else { continue }
            inodes.insert(String(columns[9]))
        }
        return try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap(Int32.init).filter {
            fd in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
                target.hasPrefix("socket:[")
            else { return false }
            return inodes.contains(String(target.dropFirst("socket:[".count).dropLast()))
        }.sorted()
    }
}

/// Holds every free descriptor below a bound, and on request keeps taking the ones that other code frees, from a
/// thread of its own, until paused.
private final class DescriptorFiller: @unchecked Sendable {
    let bound: Int32
    private let held = Mutex<[Int32]>([])
    private let running = Atomic<Bool>(false)
    private let threadDone = Atomic<Bool>(true)

    init(below bound: Int32) { self.bound = bound }

    /// Takes free descriptors until open() returns one at or above the bound (closed again); false when it ran out.
    @discardableResult func fill() -> Bool {
        for _ in 0..<Int(bound) + 100 {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return false }
            if fd >= bound {
                close(fd)
                return true
            }
            held.withLock { $0.append(fd) }
        }
        return false
    }

    /// Fills in a loop on a thread of its own until ``pause()``.
    func keepFilling() {
        running.store(true, ordering: .sequentiallyConsistent)
        threadDone.store(false, ordering: .sequentiallyConsistent)
        Thread.detachNewThread { [self] in
            while running.load(ordering: .sequentiallyConsistent) { fill() }
            threadDone.store(true, ordering: .sequentiallyConsistent)
        }
    }

    /// Stops the filling thread and waits (bounded) until it finished its pass.
    func pause() {
        running.store(false, ordering: .sequentiallyConsistent)
        for _ in 0..<1_000 where !threadDone.load(ordering: .sequentiallyConsistent) { usleep(1_000) }
    }

    func stopAndClose() {
        pause()
        held.withLock { fds in
            fds.forEach { close($0) }
            fds = []
        }
    }
}
