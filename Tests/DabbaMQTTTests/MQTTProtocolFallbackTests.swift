import DabbaMQTT
import DabbaTestSupport
import Foundation
import Synchronization
import Testing

/// A one-thread fake broker that speaks only MQTT 3.1.1: it answers an MQTT 5 CONNECT with a 3.1.1 CONNACK
/// "unacceptable protocol version" (as a 3.1.1-only broker does) and accepts a 3.1.1 CONNECT.
final class V311OnlyBroker: Sendable {
    let port: Int
    /// The protocol level of every CONNECT received (4 = 3.1.1, 5 = MQTT 5).
    let levels = Mutex<[UInt8]>([])
    private let stopped = Atomic<Bool>(false)
    private let listener: Int32

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                return bind(listener, sa, length) == 0 && listen(listener, 8) == 0
                    && getsockname(listener, sa, &length) == 0
            }
        }
        guard bound else { throw TestSupportError("fake broker cannot listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in serve() }
    }

    func stop() { stopped.store(true, ordering: .sequentiallyConsistent) }

    private func serve() {
        defer { close(listener) }
        while !stopped.load(ordering: .sequentiallyConsistent) {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) == 1 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            handle(connection)
            close(connection)
        }
    }

    /// Reads the CONNECT, answers it, then (if accepted) stays until the client closes or the broker stops.
    private func handle(_ connection: Int32) {
        var buffer = [UInt8](repeating: 0, count: 512)
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + .seconds(5)
        // CONNECT: 0x10, remaining length (one byte here), 0x00 0x04 "MQTT", protocol level.
        while received.count < 9 && ContinuousClock.now < deadline {
            let n = read(connection, &buffer, buffer.count)
            if n == 0 { return }
            if n > 0 { received += buffer[0..<n] }
        }
        guard received.count >= 9, received[0] == 0x10 else { return }
        let level = received[8]
        levels.withLock { $0.append(level) }
        let connack: [UInt8] = level == 4 ? [0x20, 0x02, 0x00, 0x00] : [0x20, 0x02, 0x00, 0x01]
        _ = connack.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
        guard level == 4 else { return }
        while !stopped.load(ordering: .sequentiallyConsistent) {
            let n = read(connection, &buffer, buffer.count)
            if n == 0 { return }
            if n > 0 && buffer[0] == 0xC0 {  // PINGREQ → PINGRESP
                let pingresp: [UInt8] = [0xD0, 0x00]
                _ = pingresp.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            }
        }
    }
}

extension MQTTTests {
    @Test func fallsBackToMQTT311WhenTheBrokerRefusesVersion5() async throws {
        let fake = try V311OnlyBroker()
        defer { fake.stop() }
        let client = RunningClient(MQTTConfiguration(port: fake.port, clientID: uniqueID("fallback")))
        #expect(await client.waitConnected(session: 1))
        #expect(fake.levels.withLock { $0 } == [5, 4], "first MQTT 5, then 3.1.1")
        let refusal = try #require(client.events.first?.disconnectReason)
        #expect(refusal.lowercased().contains("unsupported protocol version"), "\(refusal)")
        await client.stop()
    }
}

extension MQTTTests {
    @Test func anAttemptWithoutCONNACKIsAbandonedAfterTheConnectTimeout() async throws {
        // A socket that listens but never accepts: TCP connects (kernel backlog), CONNECT is never answered.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(silent, $0, length) == 0 && listen(silent, 8) == 0 && getsockname(silent, $0, &length) == 0
            }
        }
        #expect(listening)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let client = RunningClient(
            MQTTConfiguration(
                port: port, clientID: uniqueID("silent"), maxBackoff: .seconds(1), connectTimeout: .seconds(1)))
        #expect(await client.waitForEvents { $0.contains { $0.disconnectReason != nil } })
        let reason = try #require(client.events.compactMap(\.disconnectReason).first)
        #expect(reason.contains("no CONNACK within"), "\(reason)")
        await client.stop()
    }
}
