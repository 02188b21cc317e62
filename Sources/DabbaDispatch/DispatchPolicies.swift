/// The dispatch policies by name.
public enum DispatchPolicies {
    /// Every policy name, the default first.
    public static let names = ["batch", "least-recent", "nearest"]
    /// The default policy.
    public static let defaultName = "batch"

    /// The policy called `name` ("least-recent", "nearest", "batch"), or nil for an unknown name.
    public static func make(_ name: String, settings: DispatchSettings) -> (any DispatchPolicy)? {
        switch name {
        case "least-recent": return SequentialPolicy(rule: .leastRecent, settings: settings)
        case "nearest": return SequentialPolicy(rule: .nearest, settings: settings)
        case "batch": return BatchPolicy(settings: settings)
        default: return nil
        }
    }
}
