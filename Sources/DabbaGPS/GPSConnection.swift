import CGPS

#if canImport(Glibc)
    import Glibc
#endif

/// A libgps call that failed, turned into a Swift error once, here.
struct GPSConnectionError: Error, CustomStringConvertible {
    let description: String
}

/// One libgps session: the heap-allocated `gps_data_t` (~24 KB) and a line buffer as large as libgps's own, both
/// allocated once and reused across reconnects. Used only on the reader thread.
final class GPSConnection {
    /// What `readLine()` found.
    enum ReadResult {
        /// One line without its `\n` (valid until the next read).
        case line(UnsafeBufferPointer<UInt8>)
        /// A line was consumed but cannot be trusted (libgps decoded only the part before a NUL byte).
        case corrupt(String)
        /// No complete line buffered and nothing more on the socket now.
        case pending
        /// The stream ended or is unusable; `malformed` when the cause was the input itself.
        case failed(reason: String, malformed: Bool)
    }

    private let data: UnsafeMutablePointer<gps_data_t>
    private let lineCapacity = Int(dabba_gps_line_max()) + 1
    private let lineBuffer: UnsafeMutablePointer<CChar>
    private(set) var isOpen = false

    init() {
        guard let data = dabba_gps_alloc() else { fatalError("cannot allocate gps_data_t") }
        self.data = data
        lineBuffer = .allocate(capacity: lineCapacity)
        lineBuffer.initialize(repeating: 0, count: lineCapacity)
    }

    deinit {
        close(unwatch: false)
        dabba_gps_free(data)
        lineBuffer.deallocate()
    }

    /// The socket, for polling (-1 when closed).
    var socket: Int32 { isOpen ? dabba_gps_fd(data) : -1 }

    /// `gps_open` then `?WATCH` JSON, with the socket made non-blocking.
    func open(host: String, port: Int) throws(GPSConnectionError) {
        close(unwatch: false)
        let code = dabba_gps_open(host, String(port), data)
        guard code == 0 else {
            throw GPSConnectionError(description: String(cString: dabba_gps_errstr(code)))
        }
        isOpen = true
        guard dabba_gps_set_nonblocking(data) == 0 else {
            let reason = String(cString: strerror(errno))
            close(unwatch: false)
            throw GPSConnectionError(description: "fcntl: " + reason)
        }
        guard dabba_gps_watch(data) == 0 else {
            close(unwatch: false)
            throw GPSConnectionError(description: "could not send WATCH")
        }
    }

    /// Reads the next complete line, never blocking.
    func readLine() -> ReadResult {
        guard isOpen else { return .failed(reason: "not connected", malformed: false) }
        let rc = dabba_gps_read_line(data, lineBuffer, Int32(lineCapacity))
        let readErrno = errno
        if rc > 0 {
            let length = strlen(lineBuffer)
            // gps_read returns the line's length with its `\n`; the copy stops at a NUL byte: corrupt input.
            guard length == Int(rc) - 1 else { return .corrupt("NUL byte in line") }
            // Int8 and UInt8 may alias: read the C chars as bytes without rebinding.
            let bytes = UnsafeRawPointer(lineBuffer).assumingMemoryBound(to: UInt8.self)
            return .line(UnsafeBufferPointer(start: bytes, count: length))
        }
        if rc == 0 { return .pending }
        if readErrno != 0 {
            return .failed(reason: "read failed: " + String(cString: strerror(readErrno)), malformed: false)
        }
        switch dabba_gps_peer_closed(data) {
        case 1: return .failed(reason: "gpsd closed the connection", malformed: false)
        case 0: return .failed(reason: "line longer than libgps's buffer", malformed: true)
        case let negative:
            return .failed(reason: "read failed: " + String(cString: strerror(-negative)), malformed: false)
        }
    }

    /// The fix of the TPV just read, when it is one: mode ≥ 2, a time, finite coordinates.
    func fix() -> GPSFix? {
        guard dabba_gps_time_set(data), dabba_gps_mode_set(data), dabba_gps_latlon_set(data) else { return nil }
        let mode = Int(dabba_gps_fix_mode(data))
        let latitude = dabba_gps_fix_latitude(data)
        let longitude = dabba_gps_fix_longitude(data)
        let time = dabba_gps_fix_time_ms(data)
        guard mode >= 2, latitude.isFinite, longitude.isFinite, time > 0 else { return nil }
        return GPSFix(
            timeMilliseconds: time, latitude: latitude, longitude: longitude,
            altitude: finite(dabba_gps_fix_alt_msl(data)) ?? finite(dabba_gps_fix_alt_hae(data)),
            speed: finite(dabba_gps_fix_speed(data)), track: finite(dabba_gps_fix_track(data)),
            horizontalAccuracy: finite(dabba_gps_fix_eph(data)), mode: mode)
    }

    /// gpsd's release from the VERSION line just read.
    var release: String? { dabba_gps_version_set(data) ? String(cString: dabba_gps_release(data)) : nil }

    /// The message of the ERROR line just read.
    var errorMessage: String? { dabba_gps_error_set(data) ? String(cString: dabba_gps_error_message(data)) : nil }

    /// `?WATCH={"enable":false}` (when leaving on purpose) and `gps_close`.
    func close(unwatch: Bool) {
        guard isOpen else { return }
        if unwatch { _ = dabba_gps_unwatch(data) }
        _ = gps_close(data)
        isOpen = false
    }

    private func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }

    /// libgps writes commands with plain `write(2)`: on a connection gpsd has reset, a second write would raise
    /// SIGPIPE and kill the process. Blocking it on the reader thread (thread-directed, so it stays pending there)
    /// turns that into an EPIPE error without touching the process's signal dispositions.
    static func blockSIGPIPEOnThisThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }
}
