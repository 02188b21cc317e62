/// One position fix as gpsd reported it (one per epoch; see ``GPSReader``).
public struct GPSFix: Sendable, Equatable {
    /// Fix time from gpsd (the receiver's UTC time of the epoch), milliseconds since the Unix epoch.
    public var timeMilliseconds: Int64
    /// Degrees, WGS84, north positive (always finite).
    public var latitude: Double
    /// Degrees, WGS84, east positive (always finite).
    public var longitude: Double
    /// Metres: altitude above mean sea level when gpsd knows it, else height above the ellipsoid; nil when unknown.
    public var altitude: Double?
    /// Speed over ground, metres per second; nil when unknown.
    public var speed: Double?
    /// Course over ground, degrees from true north; nil when unknown.
    public var track: Double?
    /// Estimated horizontal position error (gpsd's `eph`), metres; nil when unknown.
    public var horizontalAccuracy: Double?
    /// gpsd's fix mode: 2 (2D) or 3 (3D).
    public var mode: Int

    /// Creates a fix; every value is taken as given.
    public init(
        timeMilliseconds: Int64, latitude: Double, longitude: Double, altitude: Double? = nil, speed: Double? = nil,
        track: Double? = nil, horizontalAccuracy: Double? = nil, mode: Int
    ) {
        self.timeMilliseconds = timeMilliseconds
        self.latitude = latitude
        self.longitude = longitude
        self.altitude = altitude
        self.speed = speed
        self.track = track
        self.horizontalAccuracy = horizontalAccuracy
        self.mode = mode
    }
}

/// What a ``GPSReader`` reports, in order, on its ``GPSReader/events`` stream.
public enum GPSEvent: Sendable, Equatable {
    /// Connected to gpsd and the JSON watch was accepted (`gps_open` + `gps_stream` succeeded).
    case connected
    /// gpsd went away, a read failed, or the stream became unusable (e.g. an over-long line); the reader reconnects.
    case disconnected(reason: String)
    /// A new fix (mode 2 or 3, finite coordinates): exactly one per fix time, in strictly increasing time order.
    case fix(GPSFix)
    /// Connected, but no fix for `noFixTimeout`: reported once per silence, and again only after a fix.
    case noFix
    /// A line libgps could not use (not JSON, truncated JSON, a TPV with wrong-typed fields), with a short reason.
    /// Followed by `.disconnected` when the stream is unusable.
    case malformed(String)
    /// gpsd reported a fix the reader refused: it is dated more than ``GPSReaderConfiguration/maxFutureSkew``
    /// ahead of a synchronised system clock (a receiver's bad date). gpsd does have a fix; the consumer counts it.
    case futureFix(GPSFix)
}

/// Settings of a ``GPSReader``.
public struct GPSReaderConfiguration: Sendable {
    /// gpsd's host (a name or an address).
    public var host: String = "127.0.0.1"
    /// gpsd's TCP port.
    public var port: Int = 2947
    /// How long the reader may be connected without a fix before it reports ``GPSEvent/noFix``.
    public var noFixTimeout: Duration = .seconds(10)
    /// The longest wait between reconnect attempts (exponential backoff from ``initialBackoff``, with jitter).
    public var maxBackoff: Duration = .seconds(30)
    /// The first reconnect delay, doubled after each failure up to ``maxBackoff`` (each jittered into
    /// [delay/2, delay]).
    public var initialBackoff: Duration = .milliseconds(250)
    /// How long to hold an incomplete fix for a better TPV with the same time.
    ///
    /// gpsd can report an epoch twice with the same time: a mode-2 TPV when the RMC sentence arrives and a mode-3
    /// TPV with altitude when the GGA arrives (measured with gpsd 3.22: only for the first epoch after the device is
    /// opened; afterwards gpsd reports once per epoch at the end of the cycle). A complete fix (mode 3 with altitude,
    /// speed, track and accuracy) is emitted at once; an incomplete one waits for a better TPV of the same time,
    /// a TPV with a newer time, or this delay, whichever comes first.
    ///
    /// Trade-off: a longer settle catches a slow second sentence (real receivers send RMC and GGA within ~100 ms;
    /// gpsfake `-c 0.5` sends them 500 ms apart) but delays fixes from receivers that never give a complete fix
    /// (2D-only, no accuracy). 350 ms covers real receivers with margin and keeps that delay well under one epoch.
    public var epochSettle: Duration = .milliseconds(350)
    /// A fix dated further than this ahead of the system clock is refused (``GPSEvent/futureFix(_:)``), but only
    /// while the clock is synchronised: an unsynchronised clock proves nothing. A receiver can report a wrong date
    /// for its first fixes (seen with a real receiver: one day ahead, corrected a second later).
    public var maxFutureSkew: Duration = .seconds(300)
    /// The system's wall clock (UTC ms) when it is synchronised, nil when it is not; the reader compares fix times
    /// with it. Default: ``SystemClock/synchronisedMilliseconds()`` (the kernel's `adjtimex` state). Tests inject one.
    public var synchronisedClock: @Sendable () -> Int64? = SystemClock.synchronisedMilliseconds

    /// Creates a configuration; every parameter has the default documented on its property.
    public init(
        host: String = "127.0.0.1", port: Int = 2947, noFixTimeout: Duration = .seconds(10),
        maxBackoff: Duration = .seconds(30), epochSettle: Duration = .milliseconds(350),
        initialBackoff: Duration = .milliseconds(250)
    ) {
        self.host = host
        self.port = port
        self.noFixTimeout = noFixTimeout
        self.maxBackoff = maxBackoff
        self.epochSettle = epochSettle
        self.initialBackoff = initialBackoff
    }
}
