import CMosquitto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An error from ``MQTTClient`` or ``MQTTConfiguration``: a stable ``Code`` to branch on and a human message.
///
/// libmosquitto return codes become an `MQTTError` once, where the C function is called
/// (``init(mosquittoRC:context:)``).
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable {
            case notConnected, connectionLost, refused, publishFailed, invalidArgument, passwordFile, tls, shutdown
            case network, protocolError, other
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// No session is up: keep the data and retry after ``MQTTEvent/connected(session:)``.
        public static let notConnected = Code(.notConnected)
        /// The session ended before the operation completed.
        public static let connectionLost = Code(.connectionLost)
        /// The broker refused the connection (bad credentials, not authorized, unsupported protocol…).
        public static let refused = Code(.refused)
        /// The broker answered a publish with a failure reason code (for example 0x87, not authorized).
        public static let publishFailed = Code(.publishFailed)
        /// A value the library or the protocol does not accept (topic, payload size, port, keep-alive…).
        public static let invalidArgument = Code(.invalidArgument)
        /// The password file could not be read or is empty.
        public static let passwordFile = Code(.passwordFile)
        /// TLS setup or handshake failed (CA file, certificate verification).
        public static let tls = Code(.tls)
        /// The client is shutting down or has stopped.
        public static let shutdown = Code(.shutdown)
        /// A system or name-resolution error (see the message).
        public static let network = Code(.network)
        /// The peer broke the MQTT protocol (malformed packet, unexpected reply).
        public static let protocolError = Code(.protocolError)
        /// Anything else libmosquitto reported.
        public static let other = Code(.other)

        public var description: String { kind.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human-readable explanation, naming the thing that failed (path, topic, host…).
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Converts a libmosquitto return code (`MOSQ_ERR_*`), read right after the failing call (it may consult
    /// `errno`). `context` says what was being done, e.g. "publish to dabba/v1/agents/a-1/fix".
    public init(mosquittoRC rc: Int32, context: String) {
        self.init(MQTTError.code(forMosquittoRC: rc), "\(context): \(mosquittoErrorText(rc))")
    }

    public var description: String { "MQTTError.\(code): \(message)" }

    static func code(forMosquittoRC rc: Int32) -> Code {
        switch rc {
        case MOSQ_ERR_NO_CONN.rawValue: .notConnected
        case MOSQ_ERR_CONN_LOST.rawValue, MOSQ_ERR_KEEPALIVE.rawValue: .connectionLost
        case MOSQ_ERR_CONN_REFUSED.rawValue, MOSQ_ERR_AUTH.rawValue, MOSQ_ERR_ACL_DENIED.rawValue: .refused
        case MOSQ_ERR_TLS.rawValue, MOSQ_ERR_TLS_HANDSHAKE.rawValue, MOSQ_ERR_OCSP.rawValue: .tls
        case MOSQ_ERR_INVAL.rawValue, MOSQ_ERR_PAYLOAD_SIZE.rawValue, MOSQ_ERR_MALFORMED_UTF8.rawValue,
            MOSQ_ERR_QOS_NOT_SUPPORTED.rawValue, MOSQ_ERR_OVERSIZE_PACKET.rawValue,
            MOSQ_ERR_RETAIN_NOT_SUPPORTED.rawValue, MOSQ_ERR_NOT_SUPPORTED.rawValue:
            .invalidArgument
        case MOSQ_ERR_ERRNO.rawValue, MOSQ_ERR_EAI.rawValue, MOSQ_ERR_LOOKUP.rawValue, MOSQ_ERR_TIMEOUT.rawValue:
            .network
        case MOSQ_ERR_PROTOCOL.rawValue, MOSQ_ERR_MALFORMED_PACKET.rawValue,
            MOSQ_ERR_DUPLICATE_PROPERTY.rawValue:
            .protocolError
        default: .other
        }
    }
}

/// The text for a `MOSQ_ERR_*` code; for `MOSQ_ERR_ERRNO` the system's text for the current `errno`.
func mosquittoErrorText(_ rc: Int32) -> String {
    if rc == MOSQ_ERR_ERRNO.rawValue {
        return systemErrorText(errno)
    }
    return String(cString: mosquitto_strerror(rc))
}

/// The system's text for an `errno` value.
func systemErrorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// The text for an MQTT reason code (CONNACK, PUBACK, SUBACK, DISCONNECT). MQTT 3.1.1 CONNACK codes 1–5 are
/// first mapped to their MQTT 5 equivalents so the wording does not depend on the protocol version.
func mqttReasonText(_ reason: Int32, v311Connack: Bool = false) -> String {
    var code = reason
    if v311Connack {
        switch reason {
        case 1: code = 132  // unacceptable protocol version
        case 2: code = 133  // client identifier not valid
        case 3: code = 136  // server unavailable
        case 4: code = 134  // bad user name or password
        case 5: code = 135  // not authorized
        default: break
        }
    }
    let text = String(cString: mosquitto_reason_string(code))
    return "\(text) (reason \(code))"
}
