/// The opaque `cursor` of a paged listing: the last row's key fields joined with "." in base64url. Clients pass it
/// back unchanged; a text this hub did not write decodes to nil (the listing answers 400).
package enum PageCursor {
    /// The cursor of a row whose key is `fields` (only the last may contain ".").
    package static func encode(_ fields: String...) -> String {
        AuthRandom.base64URL(Array(fields.joined(separator: ".").utf8))
    }

    /// The `count` fields of `text` (the last keeps any "."), or nil when `text` is not a cursor of that shape.
    package static func decode(_ text: String, fields count: Int) -> [String]? {
        guard count > 0, let bytes = AuthRandom.fromBase64URL(text), !bytes.isEmpty else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(
            separator: ".", maxSplits: count - 1, omittingEmptySubsequences: false)
        guard parts.count == count, !(parts.last?.isEmpty ?? true) else { return nil }
        return parts.map(String.init)
    }
}
