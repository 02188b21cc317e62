import HubModel

extension RestaurantQuery {
    /// The public filters of `GET /v1/restaurants` from its query (400 naming the parameter): `lat`/`lon`
    /// together, `radius_m` (1 … 50,000, only with a point), `open_now` (open at `now`), `q` (1 to 100 characters).
    /// The limit, cursor and `owner` are read by the route.
    package init(reading q: QueryReader, now: Int64) throws(APIError) {
        self.init(limit: 0)
        near = try q.point()
        if let radius = try q.double("radius_m", in: 1...50_000) {
            guard near != nil else { throw .badRequest("radius_m needs lat and lon") }
            self.radius = radius
        }
        if try q.bool("open_now") == true { openAt = now }
        if let text = q.query.get("q") {
            guard (1...100).contains(text.schemaLength) else { throw .badRequest("q: 1 to 100 characters") }
            self.text = text
        }
    }
}
