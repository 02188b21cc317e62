import DabbaProtocol
import Foundation
import HubModel

#if canImport(Glibc)
    import Glibc
#endif

/// The broker side of device credentials: MQTT passwords in mosquitto's password file (through
/// `mosquitto_passwd`) and the `%u` ACL rules in mosquitto's ACL file. Used by `dabba-hub agents provision`.
enum BrokerCredentials {
    /// The MQTT user every hub connects as; the ACL grants it the hub's topics, so no agent may take this id.
    static let hubUser = "dabba-hub"

    /// The ACL file `agents provision` writes when absent; identical to `hub/mosquitto/dabba.acl`.
    static let aclTemplate = """
        # Dabba broker ACL (mosquitto 2.0 `acl_file`), installed as /etc/mosquitto/dabba.acl (root:mosquitto, mode 0640).
        # `dabba-hub agents provision` writes this file when it is absent and adds any of these rules that are missing;
        # it never removes lines. Anything not allowed here is denied. Reload after editing: kill -HUP $(pidof mosquitto).
        #
        # Agents: the MQTT user name of an agent is its agent id (`%u`). An agent may publish only its own lanes and task
        # sync requests, and subscribe only to its own tasks and acks. `pattern` rules apply to every user, wherever they
        # appear in the file.
        pattern write dabba/v1/agents/%u/fix
        pattern write dabba/v1/agents/%u/backlog
        pattern write dabba/v1/agents/%u/events
        pattern write dabba/v1/agents/%u/state
        pattern write dabba/v1/agents/%u/sync
        pattern read dabba/v1/agents/%u/tasks
        pattern read dabba/v1/agents/%u/ack
        # Phones running the OwnTracks app as agents (MQTT user = OwnTracks user) would need this; off by default:
        # pattern write owntracks/%u/+

        # The hub's own MQTT user. Every hub must connect as `dabba-hub` (DABBA_MQTT_USERNAME=dabba-hub); the agent id
        # `dabba-hub` is reserved for that reason. Read access also covers shared subscriptions ($share/GROUP/…).
        user dabba-hub
        topic read dabba/v1/agents/+/fix
        topic read dabba/v1/agents/+/backlog
        topic read dabba/v1/agents/+/events
        topic read dabba/v1/agents/+/state
        topic read dabba/v1/agents/+/sync
        topic read owntracks/#
        topic write dabba/v1/agents/+/ack
        topic write dabba/v1/agents/+/tasks
        topic readwrite dabba/v1/orders/#
        # Several hubs: the cluster relay of positions and agent states (dabba/v1/hubs/{hub}/fleet); hubs only.
        topic readwrite dabba/v1/hubs/#

        """

    /// A failure with a message for the operator (never containing a password).
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// 32 random bytes from the system generator, base64url without padding (43 characters).
    static func generatePassword() -> String { AuthRandom.token(bytes: 32) }

    // MARK: ACL

    /// The rules of an ACL text, normalised: `pattern …` lines as they are, `topic …` lines prefixed with the
    /// user they belong to (`user NAME` sections; rules before any `user` line are for anonymous clients).
    static func aclRules(_ text: String) -> [String] {
        var user = ""
        var rules: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            switch first {
            case "user": user = words.dropFirst().joined(separator: " ")
            case "pattern": rules.append(words.joined(separator: " "))
            case "topic": rules.append("user \(user): " + words.joined(separator: " "))
            default: continue
            }
        }
        return rules
    }

    /// The lines to append to `text` so that it holds every rule of the template (empty when it does).
    static func missingACLLines(in text: String) -> [String] {
        let present = Set(aclRules(text))
        let missing = aclRules(aclTemplate).filter { !present.contains($0) }
        guard !missing.isEmpty else { return [] }
        let patterns = missing.filter { $0.hasPrefix("pattern ") }
        let hubPrefix = "user \(hubUser): "
        let hubTopics = missing.filter { $0.hasPrefix(hubPrefix) }.map { String($0.dropFirst(hubPrefix.count)) }
        var lines = [
            "", "# Added by dabba-hub agents provision (rules from hub/mosquitto/dabba.acl that were missing).",
        ]
        lines += patterns
        if !hubTopics.isEmpty { lines += ["user \(hubUser)"] + hubTopics }
        return lines
    }

    /// Makes sure the ACL file at `path` holds the template's rules: writes the template when the file is absent,
    /// appends only the missing rules otherwise. Returns true when the file changed.
    @discardableResult
    static func ensureACL(path: String) throws(Failure) -> Bool {
        guard FileManager.default.fileExists(atPath: path) else {
            try writeNew(path: path, contents: aclTemplate, mode: 0o640)
            return true
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure("cannot read the ACL file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let lines = missingACLLines(in: text)
        guard !lines.isEmpty else { return false }
        let addition = (text.hasSuffix("\n") || text.isEmpty ? "" : "\n") + lines.joined(separator: "\n") + "\n"
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw Failure("cannot write the ACL file \(path): \(errnoText())") }
        defer { close(fd) }
        try writeAll(fd, addition, path: path)
        return true
    }

    // MARK: Password file

    /// Sets `user`'s password in mosquitto's password file with `mosquitto_passwd -b` (adding `-c` only when the
    /// file does not exist yet), then sets the file's mode to 0640. The password is passed to the tool as an
    /// argument (its only non-interactive interface) and never written to any output.
    static func setPassword(file: String, user: String, password: String) throws(Failure) {
        guard let tool = findTool("mosquitto_passwd") else {
            throw Failure("mosquitto_passwd not found (install the mosquitto package)")
        }
        let creating = !FileManager.default.fileExists(atPath: file)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = (creating ? ["-c"] : []) + ["-b", file, user, password]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { throw Failure("cannot run \(tool): \(error)") }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let said = output.replacingOccurrences(of: password, with: "<password>")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure("mosquitto_passwd failed for \(file) (status \(process.terminationStatus)): \(said)")
        }
        guard chmod(file, 0o640) == 0 else { throw Failure("cannot chmod 0640 \(file): \(errnoText())") }
        if creating { giveToBrokerGroup(file) }
    }

    /// Whether the password file has an entry for `user`; nil when the file cannot be read.
    static func hasPasswordEntry(file: String, user: String) -> Bool? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").contains { $0.hasPrefix(user + ":") }
    }

    // MARK: Files

    /// Whether `path` is absent or a regular file (what a secret may be written to).
    static func isRegularFileOrAbsent(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return errno == ENOENT }
        return info.st_mode & S_IFMT == S_IFREG
    }

    /// Writes a secret file: created or truncated, mode 0600 (also when it existed with another mode). Only a
    /// regular file: anything else (`/dev/null`, a FIFO, a directory) is refused untouched — its mode is never changed.
    static func writeSecret(path: String, contents: String) throws(Failure) {
        guard isRegularFileOrAbsent(path) else {
            throw Failure("\(path) is not a regular file: not writing a secret to it")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
        guard fd >= 0 else { throw Failure("cannot write \(path): \(errnoText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw Failure("\(path) is not a regular file: not writing a secret to it")
        }
        guard fchmod(fd, 0o600) == 0 else { throw Failure("cannot chmod 0600 \(path): \(errnoText())") }
        try writeAll(fd, contents, path: path)
        guard fsync(fd) == 0 else { throw Failure("cannot sync \(path): \(errnoText())") }
    }

    /// Creates `path` (which must not exist) with `mode` and `contents`.
    private static func writeNew(path: String, contents: String, mode: mode_t) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure("cannot create \(path): \(errnoText())") }
        defer { close(fd) }
        guard fchmod(fd, mode) == 0 else { throw Failure("cannot chmod \(path): \(errnoText())") }
        try writeAll(fd, contents, path: path)
        giveToBrokerGroup(path)
    }

    private static func writeAll(_ fd: Int32, _ text: String, path: String) throws(Failure) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("cannot write \(path): \(errnoText())") }
            offset += n
        }
    }

    /// New broker files belong to group `mosquitto` when that group exists and we may chown (as root), so the
    /// broker (which drops privileges to user mosquitto) can read them while they stay 0640.
    private static func giveToBrokerGroup(_ path: String) {
        guard geteuid() == 0, let group = getgrnam("mosquitto") else { return }
        _ = chown(path, uid_t.max, group.pointee.gr_gid)
    }

    private static func findTool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
