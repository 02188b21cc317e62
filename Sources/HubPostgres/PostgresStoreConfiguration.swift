import DabbaProtocol
import Foundation
import HubModel
import PostgresNIO

/// Where a ``PostgresHubStore`` connects, read from the hub's `database` URL:
/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=MODE&pool_max=N&application_name=NAME` (`postgresql://`
/// too). The port defaults to 5432 and the database to the user's name. `sslmode` is `disable`, `prefer` (the default,
/// as libpq's: TLS when the server offers it) or `require` (TLS with the system's trust roots and the host name
/// checked); `pool_max` bounds the pool's connections (default 20, 1–1000); `application_name` is what the server
/// shows for the hub's connections in `pg_stat_activity` and its log (default `dabba-hub`; up to 63 bytes, as
/// PostgreSQL keeps). Percent-escapes in the user and password are decoded.
package struct PostgresStoreConfiguration: Sendable {
    package var host: String
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String
    package var tls: TLSMode
    package var maximumConnections: Int
    package var applicationName: String

    /// How the connection is encrypted (the `sslmode` query parameter; libpq's names).
    package enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    /// Reads `url`; `other` naming what is wrong when it is not a usable `postgres://` URL.
    package init(url: String) throws(StoreError) {
        guard let parts = URLComponents(string: url), parts.scheme == "postgres" || parts.scheme == "postgresql"
        else { throw StoreError(.other, "database: not a postgres:// URL") }
        guard let host = parts.host, !host.isEmpty else { throw StoreError(.other, "database: the URL names no host") }
        guard let user = parts.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw StoreError(.other, "database: the URL names no user")
        }
        self.host = host
        port = parts.port ?? 5432
        guard (1...65_535).contains(port) else { throw StoreError(.other, "database: port \(port) out of range") }
        self.user = user
        password = parts.percentEncodedPassword?.removingPercentEncoding
        let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        database = path.isEmpty ? user : path
        tls = .prefer
        maximumConnections = 20
        applicationName = "dabba-hub"
        for item in parts.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw StoreError(.other, "database: sslmode is disable, prefer or require")
                }
                tls = mode
            case "pool_max":
                guard let value = item.value.flatMap(Int.init), (1...1000).contains(value) else {
                    throw StoreError(.other, "database: pool_max is a number from 1 to 1000")
                }
                maximumConnections = value
            case "application_name":
                guard let value = item.value, (1...63).contains(value.utf8.count) else {
                    throw StoreError(.other, "database: application_name is 1 to 63 bytes")
                }
                applicationName = value
            default:
                throw StoreError(.other, "database: unknown URL parameter \(item.name)")
            }
        }
    }

    /// One connection's configuration (``PostgresHubStore/probe(_:logger:)``).
    func connection() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        return PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
    }

    /// The pool's configuration.
    var client: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        return configuration
    }
}
