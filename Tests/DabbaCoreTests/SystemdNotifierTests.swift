import DabbaCore
import DabbaTestSupport
import Foundation
import Testing

@Suite struct SystemdNotifierTests {
    @Test func sendsDatagramsToPathSocket() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let listener = try NotifySocketListener(path: dir.path("notify.sock"))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "4000000"])
        #expect(notifier.watchdogInterval == .seconds(4))
        notifier.ready(status: "ok")
        notifier.watchdog()
        notifier.stopping()
        let messages = listener.receive(count: 3, timeout: TestDeadline.generous)
        #expect(messages == ["READY=1\nSTATUS=ok", "WATCHDOG=1", "STOPPING=1"])
    }

    @Test func disabledWithoutNotifySocket() {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        #expect(notifier.send(["READY=1"]) == false)
    }

    @Test func watchdogForAnotherPidIsIgnored() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"])
        #expect(notifier.watchdogInterval == nil)
    }
}
