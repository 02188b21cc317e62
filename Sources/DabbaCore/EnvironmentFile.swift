#if canImport(Glibc)
    import Glibc
#endif

/// Reads the `KEY=value` environment files that systemd loads with `EnvironmentFile=`: blank lines and `#`
/// comments are skipped, values may be quoted with '…' or "…", an optional leading `export ` is accepted.
public enum EnvironmentFile {
    /// A file that could not be read or parsed.
    public struct Failure: Error, Sendable {
        public var message: String
        public var isMissing: Bool
    }

    /// Largest config file accepted.
    public static let maxBytes = 1 << 20

    /// Parses the file at `path`.
    public static func read(path: String) throws(Failure) -> [(name: String, value: String, line: Int)] {
        guard let file = fopen(path, "r") else {
            let missing = errno == ENOENT
            throw Failure(message: String(cString: strerror(errno)), isMissing: missing)
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > maxBytes { throw Failure(message: "larger than \(maxBytes) bytes", isMissing: false) }
        }
        return try parse(String(decoding: bytes, as: UTF8.self))
    }

    /// Parses environment-file text.
    public static func parse(_ text: String) throws(Failure) -> [(name: String, value: String, line: Int)] {
        var result: [(String, String, Int)] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            while let c = line.first, c == " " || c == "\t" { line.removeFirst() }
            while let c = line.last, c == " " || c == "\t" || c == "\r" { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7) }
            guard let eq = line.firstIndex(of: "=") else {
                throw Failure(message: "line \(index + 1): expected NAME=value", isMissing: false)
            }
            let name = String(line[..<eq]).trimmed
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw Failure(message: "line \(index + 1): invalid name \"\(name)\"", isMissing: false)
            }
            var value = line[line.index(after: eq)...]
            while let c = value.first, c == " " || c == "\t" { value.removeFirst() }
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = value.dropFirst().dropLast()
            }
            result.append((name, String(value), index + 1))
        }
        return result
    }
}
