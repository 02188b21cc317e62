import CGPS
import DabbaCore

/// The system clock as the GPS reader trusts it.
public enum SystemClock {
    /// The wall clock (UTC ms) when the kernel says it is synchronised (`adjtimex`: no TIME_ERROR, STA_UNSYNC
    /// clear; set by systemd-timesyncd, chrony or ntpd), nil otherwise.
    @Sendable public static func synchronisedMilliseconds() -> Int64? {
        dabba_clock_synchronised() ? wallClockMilliseconds() : nil
    }
}
