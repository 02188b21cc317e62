import DabbaSQLite
import HubModel

extension SQLiteHubStore: OrderShareRepository {
    package func createShare(tokenHash: String, share: OrderShare) throws(StoreError) {
        try run { () throws(SQLiteError) in
            try db.prepare(
                "INSERT INTO order_shares(token_hash, order_id, created_by, expires, revoked) VALUES(?, ?, ?, ?, 0)"
            )
            .run([.text(tokenHash), .text(share.orderID), .integer(share.createdBy), .integer(share.expires)])
        }
    }

    package func share(tokenHash: String) throws(StoreError) -> OrderShare? {
        try run { () throws(SQLiteError) -> OrderShare? in
            let s = try db.prepare(
                "SELECT order_id, created_by, expires, revoked FROM order_shares WHERE token_hash = ?")
            defer { s.reset() }
            try s.bind([.text(tokenHash)])
            guard try s.step() else { return nil }
            return OrderShare(
                orderID: s.text(0) ?? "", createdBy: s.int64(1), expires: s.int64(2), revoked: s.int64(3) != 0)
        }
    }

    package func revokeShares(order: String) throws(StoreError) -> Int {
        try run { () throws(SQLiteError) -> Int in
            try db.prepare("UPDATE order_shares SET revoked = 1 WHERE order_id = ? AND revoked = 0").run([.text(order)])
            return db.changes
        }
    }
}
