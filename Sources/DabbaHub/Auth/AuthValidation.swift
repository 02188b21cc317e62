/// Input rules for accounts, shared by `POST /v1/auth/register` and `dabba-hub users add`.
package enum AuthValidation {
    /// Why `email` is not acceptable, or nil: one `@`, a non-empty local part, a dotted domain, no spaces, ≤ 254.
    package static func emailProblem(_ email: String) -> String? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty,
            parts[1].split(separator: ".", omittingEmptySubsequences: false).count >= 2,
            !parts[1].split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty),
            !email.contains(where: { $0.isWhitespace || $0.isNewline || $0 == "\0" })
        else { return "email: expected an address such as name@example.com" }
        return nil
    }

    /// Why `password` is not acceptable, or nil: 8 characters (``Swift/String/schemaLength``) to 72 bytes (bcrypt's
    /// limit), no NUL.
    package static func passwordProblem(_ password: String) -> String? {
        if password.schemaLength < 8 { return "password: at least 8 characters" }
        if password.utf8.count > 72 { return "password: at most 72 bytes" }
        if password.contains("\0") { return "password: must not contain NUL" }
        return nil
    }

    /// Why `name` is not acceptable, or nil: at most 100 characters as sent (``Swift/String/schemaLength``) and not
    /// empty after trimming.
    package static func nameProblem(_ name: String) -> String? {
        name.trimmingSpaces.isEmpty || name.schemaLength > 100 ? "name: 1 to 100 characters" : nil
    }
}
