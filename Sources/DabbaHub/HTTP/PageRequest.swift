import HubModel
import Hummingbird

/// A paged listing's request: `limit` (within the listing's range, its default when absent) and the key of the row
/// the page starts after, read from an opaque cursor parameter; both answer 400 naming the parameter when unreadable.
/// ``read(_:)`` asks the repository for one row more than the limit, so it knows whether a next page exists without
/// counting.
package struct PageRequest<Key> {
    package let limit: Int
    package let after: Key?

    /// - Parameters:
    ///   - cursorName: the parameter holding the cursor (`cursor`; `before` for the newest-first logs by id).
    ///   - decode: the key a cursor names, nil when the text is not a cursor of this listing.
    package init(
        _ query: Parameters, limit range: ClosedRange<Int>, default value: Int, cursorName: String = "cursor",
        decode: (String) -> Key?
    ) throws(APIError) {
        limit = try QueryReader(query: query).int("limit", in: range, default: value)
        if let text = query.get(cursorName), !text.isEmpty {
            guard let key = decode(text) else {
                throw .badRequest("\(cursorName): not a cursor this listing returned")
            }
            after = key
        } else {
            after = nil
        }
    }

    /// Reads `limit + 1` rows after ``after`` with `rows`, and keeps `limit` of them.
    func read<Row>(_ rows: (_ after: Key?, _ limit: Int) async throws -> [Row]) async throws -> Page<Row> {
        var read = try await rows(after, limit + 1)
        let more = read.count > limit
        if more { read.removeLast(read.count - limit) }
        return Page(rows: read, more: more)
    }
}

/// The rows of one page and whether another follows.
struct Page<Row> {
    var rows: [Row]
    var more: Bool

    /// The cursor of the next page (the last row's), nil on the last page.
    func next<Cursor>(_ cursor: (Row) -> Cursor) -> Cursor? { more ? rows.last.map(cursor) : nil }
}
