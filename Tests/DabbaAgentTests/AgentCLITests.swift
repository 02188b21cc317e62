@testable import DabbaAgent
import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// The CLI's exit statuses and messages, and the control socket's timeouts (issue 12, item 7).
@Suite struct AgentCLITests {
    @Test(arguments: [
        ["run", "--no-such-flag"],
        ["accept"],
        ["shift", "sometimes"],
        ["no-such-command"],
    ])
    func usageErrorsExitTwo(arguments: [String]) async throws {
        let (status, output) = try await offPool { try AgentProcess.runCLI(arguments) }
        #expect(status == 2, "\(output)")
        #expect(output.contains("Usage") || output.contains("Error"), "\(output)")
    }

    @Test func aLockFileThatCannotBeOpenedSaysSoNotAnotherDaemon() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let outbox = dir.path("outbox.db")
        // A directory where the lock file should be: open(2) fails with EISDIR (permissions do not stop root).
        try FileManager.default.createDirectory(atPath: outbox + ".lock", withIntermediateDirectories: false)
        let arguments = [
            "run", "--config", "/dev/null", "--outbox", outbox, "--control-socket", dir.path("c.sock"),
            "--mqtt-port", "\(FreePort.next())", "--gpsd-port", "\(FreePort.next())",
        ]
        let (status, output) = try await offPool { try AgentProcess.runCLI(arguments) }
        #expect(status == 1, "\(output)")
        #expect(output.contains("cannot open the lock file \(outbox).lock"), "\(output)")
        #expect(output.contains("Is a directory"), "\(output)")
        #expect(!output.contains("already running"), "\(output)")
    }

    @Test func theCLIWaitsLongerThanTheServerSoASlowEngineIsBusyNotUnreachable() async throws {
        #expect(ControlClient.defaultTimeoutSeconds > ControlServer.actionTimeoutSeconds)
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("c.sock")
        // An engine that does not answer until released (a stuck commit): the server gives up after its timeout
        // and says so; the client, waiting longer, hears that answer.
        let released = Mutex(false)
        let server = try ControlServer(path: path, logger: .init(label: "test")) { request in
            guard request.cmd == "status" else { return .failure(ControlError("ready", "serving")) }
            _ = await eventually(timeout: .seconds(120), interval: .milliseconds(100)) { released.withLock { $0 } }
            return .failure(ControlError("late", "answered after the release"))
        }
        let serving = Task { await server.run() }
        defer {
            released.withLock { $0 = true }
            serving.cancel()
        }
        // The server's thread starts when its task first runs: wait until it answers, so the timing below is the
        // server's and the client's alone.
        let ready = await eventually {
            (try? await offPool { try ControlClient.send(ControlRequest(cmd: "tasks"), path: path, timeoutSeconds: 5) })?
                .error?.code == "ready"
        }
        #expect(ready)
        let started = ContinuousClock.now
        // The client blocks for the server's whole timeout: on a thread of its own, not one of the two shared ones
        // (the server's handler needs those to run at all).
        let answer = try await offPool { try ControlClient.send(ControlRequest(cmd: "status"), path: path) }
        #expect(answer.error?.code == "unavailable", "\(answer)")
        #expect(ContinuousClock.now - started >= .seconds(ControlServer.actionTimeoutSeconds))
    }
}

/// A clean stop keeps the last fix (issue 12, item 7): the gpsd reader stops before the main loop, hands over a
/// fix it was still holding, and the main loop records it before going offline.
@Suite struct AgentCleanStopTests {
    @Test func theLastFixIsStoredOnAGracefulStop() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let t0: Int64 = 1_795_640_000_000
        let complete = FakeGpsd.tpv(
            time: t0, latitude: 22.3, longitude: 87.3, altitude: 30, speed: 4, track: 90, eph: 3)
        // An incomplete fix (2D, no accuracy) is held for a better TPV of its epoch; then a bad line, which the
        // reader reports only after it has taken the held fix (lines are handled in order).
        let held = FakeGpsd.tpv(time: t0 + 1000, latitude: 22.31, longitude: 87.31, mode: 2)
        let gpsd = try FakeGpsd(steps: [.line(complete), .line(held), .line("not json")])
        defer { gpsd.stop() }
        var c = try AgentConfiguration(
            LayeredConfiguration(
                keys: AgentConfiguration.keys, file: nil, environment: [:],
                flags: [
                    "agent-id": "a-1", "mqtt-port": "\(FreePort.next())", "gpsd-port": "\(gpsd.port)",
                    "outbox": dir.path("o.db"), "control-socket": dir.path("c.sock"),
                ]))
        c.gpsEpochSettle = .seconds(600)  // the fix stays held until the reader stops
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let group = try AgentApplication.build(configuration: c, environment: [:], logger: logger)
        let running = Task { try await group.run() }
        // The daemon runs in this process and answers through the shared threads: ask from a thread of its own.
        let socket = c.controlSocket
        func status() async -> AgentStatus? {
            try? await offPool {
                try ControlClient.send(ControlRequest(cmd: "status"), path: socket, timeoutSeconds: 5).status
            }
        }
        let settled = await eventually {
            guard let s = await status() else { return false }
            return s.lastSeq == 1 && s.counters.gpsMalformed >= 1
        }
        let last = await status()
        #expect(settled, "\(String(describing: last))")
        await group.triggerGracefulShutdown()
        try await running.value
        let outbox = try Outbox(path: c.outboxPath, logger: logger)
        let rows = try outbox.rows(after: 0, limit: 10)
        #expect(rows.map(\.time) == [t0, t0 + 1000], "the held fix was dropped on the clean stop")
    }
}
