import Hummingbird

extension Request {
    /// Decodes a JSON body when there is one, nil for an empty body (actions may be posted without a body).
    func decodeIfPresent<T: Decodable>(as type: T.Type, context: HubRequestContext) async throws -> T? {
        var request = self
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { return nil }
        return try await request.decode(as: type, context: context)
    }
}
