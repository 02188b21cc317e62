import CGPS
import DabbaCore
import DabbaGPS
import DabbaTestSupport
import Testing

/// Input real gpsd never sends, from a scripted fake. Serialized within itself; it may run alongside the gpsfake
/// suite (these tests mostly wait on sockets).
@Suite(.serialized) struct GPSReaderFakeGpsdTests {
    static let t0: Int64 = 1_795_640_000_000

    static func tpv(_ time: Int64, mode: Int = 3, complete: Bool = true) -> String {
        FakeGpsd.tpv(
            time: time, latitude: 22.3149, longitude: 87.3105, mode: mode, altitude: mode == 3 ? 31.5 : nil,
            speed: complete ? 4.2 : nil, track: complete ? 91.0 : nil, eph: complete ? 3.1 : nil)
    }

    @Test func malformedTruncatedAndWrongTypedInputIsReportedAndSkipped() async throws {
        let t = Self.t0
        let gpsd = try FakeGpsd(steps: [
            .line("this is not json"),
            .line(
                #"{"class":"TPV","device":"/dev/fake0","mode":3,"time":"2026-11-25T10:00:00.000Z","lat":22.5,"lon":87."#
            ),
            .line(
                #"{"class":"TPV","device":"/dev/fake0","mode":"3","time":"2026-11-25T10:00:01.000Z","lat":22.5,"lon":87.5}"#
            ),
            .line(
                #"{"class":"TPV","device":"/dev/fake0","mode":3,"time":"2026-11-25T10:00:02.000Z","lat":"22.5","lon":87.5}"#
            ),
            // Wrong type after a good position: libgps would still hand over lat/lon (see the next test).
            .line(
                #"{"class":"TPV","device":"/dev/fake0","mode":3,"time":"2026-11-25T10:00:03.000Z","lat":22.5,"lon":87.5,"altMSL":"high"}"#
            ),
            .raw(Self.tpv(t - 500) + "\u{0}trailing garbage\n"),
            .line(""),
            .line(#"{"class":"TPV","device":"/dev/fake0","mode":1,"time":"2026-11-25T10:00:04.000Z"}"#),
            .line(#"{"class":"SKY","device":"/dev/fake0","satellites":[{"PRN":5,"used":true}]}"#),
            .line(Self.tpv(t)), .line(Self.tpv(t + 1000)), .line(Self.tpv(t + 2000)),
        ])
        defer { gpsd.stop() }
        let running = RunningReader(GPSReaderConfiguration(port: gpsd.port))
        #expect(await running.log.wait { $0.filter(\.isFix).count >= 3 })
        await running.stopAndDrain()
        let events = running.log.events
        #expect(
            events.filter { !$0.isFix } == [
                .connected, .malformed("not JSON"), .malformed("truncated or invalid JSON"),
                .malformed("TPV field with the wrong type: mode"), .malformed("TPV field with the wrong type: lat"),
                .malformed("TPV field with the wrong type: altMSL"), .malformed("NUL byte in line"),
            ], "\(events)")
        #expect(running.log.fixes.map(\.timeMilliseconds) == [t, t + 1000, t + 2000])
        #expect(
            running.log.fixes.first
                == GPSFix(
                    timeMilliseconds: t, latitude: 22.3149, longitude: 87.3105, altitude: 31.5, speed: 4.2, track: 91,
                    horizontalAccuracy: 3.1, mode: 3))
        #expect(gpsd.connectionCount == 1 && gpsd.watchCount == 1)
    }

    /// What libgps itself does with bad lines (gps_unpack is what gps_read calls): it never reports an error and
    /// keeps what it parsed before the fault. This is why the reader checks each line before trusting the struct.
    @Test func libgpsSilentlyAcceptsBrokenJSON() throws {
        let data = try #require(dabba_gps_alloc())
        defer { dabba_gps_free(data) }
        func unpack(_ line: String) -> (rc: Int32, latlon: Bool, lat: Double) {
            var bytes = Array(line.utf8CString)
            data.pointee.set = 0
            let rc = bytes.withUnsafeMutableBufferPointer { gps_unpack($0.baseAddress!, data) }
            return (rc, dabba_gps_latlon_set(data), dabba_gps_fix_latitude(data))
        }
        let t = #""time":"2026-11-25T10:00:00.000Z""#
        let wrongAfter = unpack(#"{"class":"TPV","mode":3,"# + t + #","lat":22.5,"lon":87.5,"altMSL":"high"}"#)
        #expect(wrongAfter.rc == 0 && wrongAfter.latlon && wrongAfter.lat == 22.5)
        let truncated = unpack(#"{"class":"TPV","mode":3,"# + t + #","lat":22.25,"lon":87.5,"al"#)
        #expect(truncated.rc == 0 && truncated.latlon && truncated.lat == 22.25)
        let garbage = unpack("this is not json")
        #expect(garbage.rc == 0 && !garbage.latlon)
    }

    @Test func sameEpochTwiceOlderAndRepeatedTimesGiveOneFixPerTime() async throws {
        // The settle time is long here (2 s) and the pauses are far from it on either side (100 ms within an
        // epoch, 5 s for "too late"), so a slow thread on a loaded machine cannot move a TPV across it; the exact
        // timing of the settle is tested with an injected clock in EpochFilterTests.
        let t = Self.t0
        let gpsd = try FakeGpsd(steps: [
            .line(Self.tpv(t, mode: 2)), .pause(.milliseconds(100)), .line(Self.tpv(t)),  // RMC then GGA
            .line(Self.tpv(t)), .line(Self.tpv(t - 1000)),  // repeated and older: dropped
            .line(Self.tpv(t + 1000, mode: 2)), .pause(.seconds(5)), .line(Self.tpv(t + 1000)),  // too late
            .line(Self.tpv(t + 2000, complete: false)), .pause(.milliseconds(50)), .line(Self.tpv(t + 3000)),
        ])
        defer { gpsd.stop() }
        let running = RunningReader(GPSReaderConfiguration(port: gpsd.port, epochSettle: .seconds(2)))
        #expect(await running.log.wait { $0.filter(\.isFix).count >= 4 })
        await running.stopAndDrain()  // the log is final: a fifth fix would be in it now
        let fixes = running.log.fixes
        #expect(fixes.map(\.timeMilliseconds) == [t, t + 1000, t + 2000, t + 3000])
        #expect(fixes.map(\.mode) == [3, 2, 3, 3])
    }

    @Test func silenceWithoutFixIsReportedOncePerSilence() async throws {
        let t = Self.t0
        let mode1 = #"{"class":"TPV","device":"/dev/fake0","mode":1,"time":"2026-11-25T10:00:00.000Z"}"#
        // 5 s of mode-1 TPVs (gpsd talks, but has no fix), then one fix, then silence; a no-fix report after 1 s.
        // The fix comes 4 s after the first report is due: only the once-per-silence rule keeps a second report
        // out of that window (the final event list below is exact).
        let gpsd = try FakeGpsd(
            steps: Array(repeating: [.line(mode1), .pause(.milliseconds(250))], count: 20).flatMap { $0 }
                + [.line(Self.tpv(t))])
        defer { gpsd.stop() }
        let running = RunningReader(GPSReaderConfiguration(port: gpsd.port, noFixTimeout: .seconds(1)))
        #expect(await running.log.wait { $0.contains(where: \.isNoFix) })
        #expect(await running.log.wait { $0.contains(where: \.isFix) })  // after ~5 s
        #expect(await running.log.wait { $0.filter(\.isNoFix).count == 2 })  // a new silence
        await running.stopAndDrain()
        #expect(running.log.events == [.connected, .noFix, .fix(running.log.fixes[0]), .noFix])
    }

    @Test func aFixDatedFarAheadOfASynchronisedClockIsRefusedAndIsNoSilence() async throws {
        let t = Self.t0
        let day: Int64 = 86_400_000
        // A synchronised clock at t0: three seconds of fixes dated a day ahead (longer than the no-fix timeout),
        // then the receiver corrects itself.
        let ahead = (0..<30).flatMap { i in
            [FakeGpsd.Step.line(Self.tpv(t + day + Int64(i) * 100)), .pause(.milliseconds(100))]
        }
        let gpsd = try FakeGpsd(steps: ahead + [.line(Self.tpv(t)), .line(Self.tpv(t + 1000))])
        defer { gpsd.stop() }
        var configuration = GPSReaderConfiguration(port: gpsd.port, noFixTimeout: .seconds(2))
        configuration.synchronisedClock = { t }
        let running = RunningReader(configuration)
        #expect(await running.log.wait { $0.filter(\.isFix).count >= 2 })
        await running.stopAndDrain()
        let events = running.log.events
        #expect(events.filter(\.isFutureFix).count == 30, "\(events)")
        // gpsd reported a fix all along: never "no fix", although nothing was recorded for three seconds.
        #expect(events.filter(\.isNoFix).isEmpty, "\(events)")
        #expect(running.log.fixes.map(\.timeMilliseconds) == [t, t + 1000])
        // Logged once, not once per fix.
        #expect(running.logs.count("Refusing GPS fixes dated ahead of the synchronised system clock") == 1)
    }

    @Test func withoutASynchronisedClockAWrongFirstDateIsFollowedBackAfterFiveEpochs() async throws {
        let t = Self.t0
        let day: Int64 = 86_400_000
        // The real receiver's log: the first fix dated a day ahead, every later one right.
        let gpsd = try FakeGpsd(steps: [.line(Self.tpv(t + day))] + (0..<8).map { .line(Self.tpv(t + $0 * 1000)) })
        defer { gpsd.stop() }
        var configuration = GPSReaderConfiguration(port: gpsd.port)
        configuration.synchronisedClock = { nil }
        let running = RunningReader(configuration)
        #expect(await running.log.wait { $0.filter(\.isFix).count >= 5 })
        await running.stopAndDrain()
        // Four epochs are lost while the filter makes sure the clock really went back; then recording goes on.
        #expect(
            running.log.fixes.map(\.timeMilliseconds) == [t + day, t + 4000, t + 5000, t + 6000, t + 7000],
            "\(running.log.events)")
        #expect(running.logs.count("The receiver's clock went back; recording from its new time") == 1)
    }

    @Test func overLongLineIsMalformedAndForcesAReconnect() async throws {
        let t = Self.t0
        let gpsd = try FakeGpsd { connection in
            connection == 1
                ? [.raw(String(repeating: "x", count: 25_000)), .pause(.seconds(5))]
                : [.line(Self.tpv(t))]
        }
        defer { gpsd.stop() }
        let running = RunningReader(GPSReaderConfiguration(port: gpsd.port))
        #expect(await running.log.wait { $0.contains(where: \.isFix) })
        await running.stop()
        #expect(
            running.log.events == [
                .connected, .malformed("line longer than libgps's buffer"),
                .disconnected(reason: "line longer than libgps's buffer"), .connected, .fix(running.log.fixes[0]),
            ])
        #expect(gpsd.connectionCount == 2)
    }

    @Test func floodOfGarbageForcesAReconnect() async throws {
        let gpsd = try FakeGpsd { connection in
            connection == 1 ? Array(repeating: .line("garbage"), count: 50) : [.line(Self.tpv(Self.t0))]
        }
        defer { gpsd.stop() }
        let running = RunningReader(GPSReaderConfiguration(port: gpsd.port))
        #expect(await running.log.wait { $0.contains(where: \.isFix) })
        await running.stop()
        #expect(running.log.count(where: \.isMalformed) == 10)
        #expect(running.log.events.contains(.disconnected(reason: "too much malformed input")))
        #expect(gpsd.connectionCount == 2)
    }

    @Test func gpsdClosingTheConnectionIsADisconnect() async throws {
        let gpsd = try FakeGpsd { connection in connection == 1 ? [.close] : [.line(Self.tpv(Self.t0))] }
        defer { gpsd.stop() }
        let running = RunningReader(GPSReaderConfiguration(port: gpsd.port))
        #expect(await running.log.wait { $0.contains(where: \.isFix) })
        await running.stop()
        #expect(
            running.log.events == [
                .connected, .disconnected(reason: "gpsd closed the connection"), .connected,
                .fix(running.log.fixes[0]),
            ])
    }

    @Test func crashLoopingGpsdIsBackedOff() async throws {
        let gpsd = try FakeGpsd(steps: [.close])  // VERSION, WATCH answered, then gone: every time
        defer { gpsd.stop() }
        let started = ContinuousClock.now
        let running = RunningReader(GPSReaderConfiguration(port: gpsd.port, maxBackoff: .seconds(1)))
        #expect(await eventually { gpsd.connectionCount >= 5 })
        await running.stop()
        let elapsed = ContinuousClock.now - started
        // Delays 250 ms doubling to 1 s, jittered into [½, 1], not reset by the brief sessions: no more connections
        // than those delays allow in the time it took (a loaded machine only makes fewer). Resetting after each
        // session would allow about three times as many; a busy loop, hundreds.
        let most = Backoff.mostAttempts(within: elapsed, initial: .milliseconds(250), maximum: .seconds(1))
        #expect(gpsd.connectionCount <= most, "\(gpsd.connectionCount) connections in \(elapsed)")
        #expect(running.log.count(where: \.isConnected) == gpsd.connectionCount)
        #expect(running.log.count(where: \.isDisconnected) >= gpsd.connectionCount - 1)  // the last may be open
    }

    /// "Promptly" is measured against what the reader would otherwise wait for, made long here: a connected,
    /// idle reader would wait for gpsd (no fix timeout 120 s) and a backing-off one for its delay (at least 60 s).
    /// The bound, 20 s, is far from both and far above any scheduling delay.
    static let prompt: Duration = .seconds(20)

    @Test func runReturnsPromptlyOnShutdownAndOnCancellation() async throws {
        // Connected and idle.
        let gpsd = try FakeGpsd(steps: [])
        defer { gpsd.stop() }
        let connected = RunningReader(GPSReaderConfiguration(port: gpsd.port, noFixTimeout: .seconds(120)))
        #expect(await connected.log.wait { $0 == [.connected] })
        #expect(connected.reader.isConnected)
        let took = await connected.stop()
        #expect(took < Self.prompt, "\(took)")
        #expect(await connected.log.wait { _ in connected.log.isFinished })
        #expect(!connected.reader.isConnected)

        // Waiting out a long backoff (gpsd absent: the first retry is 60–120 s away), stopped by task cancellation
        // once the reader has logged that it is waiting.
        let absent = RunningReader(
            GPSReaderConfiguration(port: FreePort.next(), maxBackoff: .seconds(120), initialBackoff: .seconds(120)))
        #expect(await eventually { absent.failedAttempts.count == 1 })
        let start = ContinuousClock.now
        absent.task.cancel()
        await absent.task.value
        #expect(ContinuousClock.now - start < Self.prompt)
        #expect(await absent.log.wait { _ in absent.log.isFinished })
        #expect(absent.failedAttempts.count == 1, "no second attempt: it was still waiting out the first delay")

        // shutdown() before run(): run() returns at once (it would otherwise connect and stay connected).
        let early = GPSReader(configuration: GPSReaderConfiguration(port: gpsd.port), logger: .init(label: "t"))
        early.shutdown()
        let earlyStart = ContinuousClock.now
        await early.run()
        #expect(ContinuousClock.now - earlyStart < Self.prompt)
        #expect(gpsd.connectionCount == 1, "only the first reader connected")
        var events: [GPSEvent] = []
        for await event in early.events { events.append(event) }
        #expect(events.isEmpty)
    }
}
