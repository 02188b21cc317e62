import DabbaProtocol

/// One request on the control socket: a JSON object on one line.
public struct ControlRequest: Codable, Sendable, Equatable {
    /// status, tasks, accept, reject, pickup, deliver, shift-start, shift-end.
    public var cmd: String
    public var order: String?
    public var reason: String?
    public var cashCollected: Int64?
    public init(cmd: String, order: String? = nil, reason: String? = nil, cashCollected: Int64? = nil) {
        self.cmd = cmd
        self.order = order
        self.reason = reason
        self.cashCollected = cashCollected
    }
}

/// The answer: a JSON object on one line.
public struct ControlResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public var status: AgentStatus?
    public var tasks: [AgentTask]?
    public var event: AgentEvent?
    public var error: ControlError?

    public static func failure(_ error: ControlError) -> ControlResponse {
        ControlResponse(ok: false, status: nil, tasks: nil, event: nil, error: error)
    }
}

extension AgentEngine {
    /// Answers one control request.
    public func respond(to request: ControlRequest) -> ControlResponse {
        var response = ControlResponse(ok: true)
        do throws(ControlError) {
            switch request.cmd {
            case "status":
                response.status = status()
            case "tasks":
                response.tasks = try listTasks()
            case "accept", "reject", "pickup", "deliver":
                guard let order = request.order, !order.isEmpty else {
                    throw ControlError("bad_request", "\(request.cmd) needs an order id")
                }
                let kind: AgentEvent.Kind =
                    switch request.cmd {
                    case "accept": .accepted
                    case "reject": .rejected
                    case "pickup": .pickedUp
                    default: .delivered
                    }
                response.event = try act(
                    kind, order: order, reason: request.reason, cashCollected: request.cashCollected)
            case "shift-start", "shift-end":
                response.event = try shift(start: request.cmd == "shift-start")
            default:
                throw ControlError("bad_request", "unknown command \(request.cmd)")
            }
        } catch {
            counters.controlErrors += 1
            return .failure(error)
        }
        return response
    }
}

extension ControlResponse {
    init(ok: Bool) { self.init(ok: ok, status: nil, tasks: nil, event: nil, error: nil) }
}
