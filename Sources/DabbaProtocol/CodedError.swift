/// The skeleton of the project's errors: a stable ``ErrorCode`` for programs (API bodies, metric labels, switches)
/// and a message for people. An error type declares its codes once, as constants of `ErrorCode<Itself>`:
///
/// ```swift
/// public struct StoreError: CodedError {
///     public typealias Code = ErrorCode<StoreError>
///     public var code: Code
///     public var message: String
///     public init(_ code: Code, _ message: String) { … }
/// }
/// extension ErrorCode<StoreError> {
///     public static var notFound: Self { "not_found" }
/// }
/// ```
///
/// Errors of C libraries (`SQLiteError`, `MQTTError`) keep the library's numeric codes; they are converted to these
/// once, at the boundary.
public protocol CodedError: Error, Sendable, Equatable, CustomStringConvertible {
    associatedtype Domain
    var code: ErrorCode<Domain> { get }
    var message: String { get }
}

extension CodedError {
    /// `code: message`, as logs print it.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// A code of the errors of `Domain`: an extensible snake_case constant (`not_found`, `invalid_field`). Codes of
/// different error types are different types, so one cannot be compared with another by mistake.
public struct ErrorCode<Domain>: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }
}
