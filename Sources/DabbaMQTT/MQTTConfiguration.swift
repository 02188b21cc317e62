import CMosquitto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The MQTT protocol version to speak.
public enum MQTTProtocolVersion: Sendable, Hashable {
    /// MQTT 3.1.1.
    case v311
    /// MQTT 5. When the broker refuses it, ``MQTTClient`` falls back to 3.1.1 for the following attempts.
    case v5
}

/// How an ``MQTTClient`` connects. Every field has a default except `clientID`.
public struct MQTTConfiguration: Sendable {
    /// Broker host name or IP address. Default "127.0.0.1".
    public var host: String
    /// Broker TCP port. Default 1883 (8883 is usual with TLS).
    public var port: Int
    /// The MQTT client identifier; the broker drops an older connection with the same id.
    /// Empty lets libmosquitto generate a random one.
    public var clientID: String
    /// User name; nil connects anonymously.
    public var username: String?
    /// Password; see ``readPasswordFile(_:)``.
    public var password: String?
    /// When set, connect with TLS and verify the broker's certificate (and host name) against this CA file (PEM).
    public var tlsCAFile: String?
    /// Keep-alive interval in seconds (libmosquitto requires at least 5). Default 30.
    public var keepAlive: Int
    /// Outgoing QoS 1/2 messages in flight at once (1...65535). Default 20. Keep it bounded: libmosquitto's
    /// acknowledgement handling slows down sharply with very large windows.
    public var maxInflight: Int
    /// The Last Will, published by the broker when the connection ends without a DISCONNECT.
    /// ``MQTTClient/setWill(_:)`` changes it for later sessions.
    public var will: MQTTMessage?
    /// Upper bound of the reconnect backoff (exponential from ``initialBackoff``, with jitter). Default 30 s.
    public var maxBackoff: Duration
    /// The first reconnect delay, doubled after each failure up to ``maxBackoff`` (each jittered into
    /// [delay/2, delay]). Default 250 ms.
    public var initialBackoff: Duration
    /// Protocol version for the first attempt. Default ``MQTTProtocolVersion/v5``.
    public var protocolVersion: MQTTProtocolVersion
    /// How long one connection attempt may take from TCP connect to CONNACK before it is abandoned and retried.
    /// Default 15 s.
    public var connectTimeout: Duration
    /// Events waiting in ``MQTTClient/events`` (while someone iterates it) above which the network thread stops
    /// reading from the socket until the consumer has taken half of them (each pause at most a second, so
    /// keep-alives still flow): a consumer that lags behind a burst leaves the broker and TCP to hold the burst,
    /// not this process's heap. 0 turns it off. Default 1,024.
    public var eventBufferLimit: Int = 1024

    public init(
        host: String = "127.0.0.1", port: Int = 1883, clientID: String, username: String? = nil,
        password: String? = nil, tlsCAFile: String? = nil, keepAlive: Int = 30, maxInflight: Int = 20,
        will: MQTTMessage? = nil, maxBackoff: Duration = .seconds(30), protocolVersion: MQTTProtocolVersion = .v5,
        connectTimeout: Duration = .seconds(15), initialBackoff: Duration = .milliseconds(250)
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.username = username
        self.password = password
        self.tlsCAFile = tlsCAFile
        self.keepAlive = keepAlive
        self.maxInflight = maxInflight
        self.will = will
        self.maxBackoff = maxBackoff
        self.protocolVersion = protocolVersion
        self.connectTimeout = connectTimeout
        self.initialBackoff = initialBackoff
    }

    /// Reads a password file: its first line, with trailing whitespace and the line break removed.
    /// Throws ``MQTTError`` with code ``MQTTError/Code/passwordFile`` naming the path when the file cannot be
    /// read or the first line is empty.
    public static func readPasswordFile(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw MQTTError(.passwordFile, "cannot read password file \(path): \(systemErrorText(errno))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MQTTError(.passwordFile, "cannot read password file \(path): \(systemErrorText(errno))")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if chunk[0..<n].contains(UInt8(ascii: "\n")) { break }
        }
        var line =
            bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false)
            .first.map(Array.init) ?? []
        while let last = line.last, last == 0x20 || last == 0x09 || last == 0x0D { line.removeLast() }
        guard !line.isEmpty else {
            throw MQTTError(.passwordFile, "password file \(path) is empty (the password is its first line)")
        }
        return String(decoding: line, as: UTF8.self)
    }

    /// Checks what can be checked before connecting; throws ``MQTTError`` for a configuration that can never work.
    func validate() throws {
        guard !host.isEmpty else { throw MQTTError(.invalidArgument, "MQTT host is empty") }
        guard (1...65535).contains(port) else {
            throw MQTTError(.invalidArgument, "MQTT port \(port) is outside 1...65535")
        }
        guard keepAlive >= 5 && keepAlive <= 65535 else {
            throw MQTTError(.invalidArgument, "MQTT keep-alive \(keepAlive) s is outside 5...65535")
        }
        guard (1...65535).contains(maxInflight) else {
            throw MQTTError(.invalidArgument, "MQTT max in-flight \(maxInflight) is outside 1...65535")
        }
        if password != nil && username == nil && protocolVersion == .v311 {
            throw MQTTError(.invalidArgument, "MQTT 3.1.1 needs a user name when a password is set")
        }
        if let tlsCAFile, access(tlsCAFile, R_OK) != 0 {
            throw MQTTError(.tls, "cannot read TLS CA file \(tlsCAFile): \(systemErrorText(errno))")
        }
        if let will { try validatePublishTopic(will.topic, what: "Last Will topic") }
    }
}

/// Throws when `topic` is not a valid topic to publish to (empty, wildcards, bad UTF-8, too long).
func validatePublishTopic(_ topic: String, what: String) throws(MQTTError) {
    guard !topic.isEmpty else { throw MQTTError(.invalidArgument, "\(what) is empty") }
    let rc = mosquitto_pub_topic_check(topic)
    if rc != MOSQ_ERR_SUCCESS.rawValue { throw MQTTError(mosquittoRC: rc, context: "\(what) \"\(topic)\"") }
}
