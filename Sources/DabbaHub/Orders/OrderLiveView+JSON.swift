import DabbaProtocol

/// The feed's frames written by hand: every customer gets one per fix of their agent (10,000 a second in the
/// customers benchmark), where `JSONEncoder` was the feed's main cost. Same keys and values as the synthesized
/// `Encodable` with `.sortedKeys` (keys in that order, nil fields left out).
extension OrderLiveView.Frame {
    package func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.field("agent", ifPresent: agent) { $0.field($1, raw: $2.jsonBytes()) }
        w.field("destination", ifPresent: destination) { $0.field($1, raw: $2.jsonBytes()) }
        w.field("eta", ifPresent: eta) { $0.field($1, raw: $2.jsonBytes()) }
        w.field("order", order)
        w.field("position", ifPresent: position) { $0.field($1, raw: $2.jsonBytes()) }
        w.field("previous", ifPresent: previous) { $0.field($1, $2.rawValue) }
        w.field("reason", ifPresent: reason) { $0.field($1, $2) }
        w.field("restaurant", ifPresent: restaurant) { $0.field($1, raw: $2.jsonBytes()) }
        w.field("status", status.rawValue)
        w.field("time", ifPresent: time) { $0.field($1, $2) }
        w.field("timeline", ifPresent: timeline) { $0.field($1, raw: JSONWriter.array($2.map { $0.jsonBytes() })) }
        w.field("type", type)
        return w.finish()
    }
}

extension OrderLiveView.AgentCard {
    func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 64)
        w.field("firstName", firstName)
        w.field("id", id)
        w.field("vehicle", ifPresent: vehicle) { $0.field($1, $2) }
        return w.finish()
    }
}

extension OrderLiveView.ETA {
    func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 80)
        w.field("arrived", arrived)
        w.field("distanceMeters", distanceMeters)
        w.field("seconds", seconds)
        w.field("target", target)
        return w.finish()
    }
}

extension OrderLiveView.Place {
    func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 96)
        w.field("address", address)
        w.field("lat", lat)
        w.field("lon", lon)
        w.field("name", ifPresent: name) { $0.field($1, $2) }
        return w.finish()
    }
}

extension OrderLiveView.Point {
    func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 96)
        w.field("lat", lat)
        w.field("lon", lon)
        w.field("speed", ifPresent: speed) { $0.field($1, $2) }
        w.field("time", time)
        w.field("track", ifPresent: track) { $0.field($1, $2) }
        return w.finish()
    }
}

extension OrderLiveView.TimelineEntry {
    func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 64)
        w.field("reason", ifPresent: reason) { $0.field($1, $2) }
        w.field("status", status.rawValue)
        w.field("time", time)
        return w.finish()
    }
}
