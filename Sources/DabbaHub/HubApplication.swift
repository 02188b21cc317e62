import Hummingbird
import Logging

/// Builds the hub application: used by `dabba-hub serve` and by the tests.
public func buildApplication(logger: Logger) async throws -> some ApplicationProtocol {
    let router = Router()
    router.get("/health") { _, _ in "ok" }
    return Application(router: router, logger: logger)
}
