import CSQLite

/// A SQLite failure, converted once from the C result code at the wrapper.
public struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The primary result code (`SQLITE_FULL`, `SQLITE_CORRUPT`, …) as an extensible constant.
    public struct Code: RawRepresentable, Hashable, Sendable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let error = Code(rawValue: SQLITE_ERROR)
        public static let busy = Code(rawValue: SQLITE_BUSY)
        public static let full = Code(rawValue: SQLITE_FULL)
        public static let ioError = Code(rawValue: SQLITE_IOERR)
        public static let corrupt = Code(rawValue: SQLITE_CORRUPT)
        public static let notADatabase = Code(rawValue: SQLITE_NOTADB)
        public static let constraint = Code(rawValue: SQLITE_CONSTRAINT)
        public static let cantOpen = Code(rawValue: SQLITE_CANTOPEN)
        public static let readOnly = Code(rawValue: SQLITE_READONLY)
        public static let misuse = Code(rawValue: SQLITE_MISUSE)
    }

    /// Primary code (extended code & 0xff).
    public var code: Code
    /// The extended result code as SQLite reported it.
    public var extendedCode: Int32
    public var message: String

    public init(extendedCode: Int32, message: String) {
        self.code = Code(rawValue: extendedCode & 0xff)
        self.extendedCode = extendedCode
        self.message = message
    }

    /// True for failures that mean the file itself is damaged.
    public var isCorruption: Bool { code == .corrupt || code == .notADatabase }
    /// True when the disk (or the database's page limit) is full.
    public var isFull: Bool { code == .full }

    public var description: String { "SQLite error \(extendedCode): \(message)" }
}
