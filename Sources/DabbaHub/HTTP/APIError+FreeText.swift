extension APIError {
    /// A free-text member (`reason`, `note`) of at most `limit` characters (``Swift/String/schemaLength``: 300 flag
    /// emoji are 600); otherwise 422 naming the member.
    static func checkFreeText(_ text: String?, field: String, limit: Int = 500) throws(APIError) {
        if let text, text.schemaLength > limit { throw .invalid("\(field): at most \(limit) characters") }
    }
}
