import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `GET /health`, `GET /v1/ping`, `GET /metrics` and `GET /openapi.yaml`: public, for probes, Prometheus and API
/// clients.
struct SystemController {
    /// True when the database answers a query in time (``DatabaseProbe``).
    let databaseOK: @Sendable () async -> Bool
    /// True while the MQTT session is up.
    let brokerConnected: @Sendable () -> Bool
    let metrics: HubMetrics
    /// Folder holding `openapi.yaml` (the `assets` key).
    let assets: String

    struct Health: ResponseEncodable {
        var status: String
        var database: String
        var broker: String
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let open = router.group(access: .public)
        open.get("health", use: health)
        open.get("v1/ping", use: ping)
        open.get("metrics", use: renderMetrics)
        open.get("openapi.yaml", use: openAPI)
    }

    @Sendable func health(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<Health> {
        let database = await databaseOK()
        let broker = brokerConnected()
        let body = Health(
            status: database ? (broker ? "ok" : "degraded") : "down", database: database ? "ok" : "error",
            broker: broker ? "connected" : "disconnected")
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        return EditedResponse(status: database ? .ok : .serviceUnavailable, headers: headers, response: body)
    }

    /// `{"ok":true}`: the process answers HTTP. A liveness probe that touches neither the database nor the broker
    /// (`/health` checks both), and the constant route the HTTP benchmarks compare real routes against.
    @Sendable func ping(_ request: Request, context: HubRequestContext) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: Self.pong))
    }

    static let pong = ByteBuffer(string: #"{"ok":true}"#)

    @Sendable func renderMetrics(_ request: Request, context: HubRequestContext) -> Response {
        text(metrics.render(), type: "text/plain; version=0.0.4; charset=utf-8")
    }

    @Sendable func openAPI(_ request: Request, context: HubRequestContext) async throws -> Response {
        let path = assets + "/openapi.yaml"
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            context.logger.error("Cannot read the OpenAPI document", metadata: ["file.path": "\(path)"])
            throw APIError.notFound("openapi.yaml is not installed")
        }
        return text(String(decoding: bytes, as: UTF8.self), type: "application/yaml; charset=utf-8")
    }

    private func text(_ body: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
