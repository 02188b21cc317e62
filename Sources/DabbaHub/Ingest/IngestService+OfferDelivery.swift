import DabbaCore
import DabbaProtocol
import Logging

/// Evidence that offers reached the devices (``Offer/lapseExcludes``): every message from an agent's device (a fix,
/// backlog, event, online state or sync request) shows it had a broker connection then, so each of its pending
/// offers sent before that gets `seen`. Noted per message in memory, written once per commit tick in one
/// transaction (``DispatchRepository/recordSeen(_:)``), on the dispatcher's clock.
extension IngestService {
    /// Notes that the agent behind a validated message was heard from now.
    func noteSeen(_ outcome: IngestValidator.Outcome) {
        let agent: String? =
            switch outcome {
            case .positions(let positions): positions.first?.agent
            case .event(let event): event.agent
            case .state(let state, _): state.online ? state.agent : nil  // an offline state may be its Will
            case .sync(let request): request.agent
            case .rejected: nil
            }
        guard let agent else { return }
        let now = clock()
        seen.withLock { $0[agent] = max($0[agent] ?? now, now) }
    }

    /// Writes the agents noted since the last flush. A store failure is logged and the notes are dropped: a missing
    /// `seen` only makes a lapse undelivered (the agent stays eligible), and the device's next message notes it again.
    func flushSeen() async {
        let agents = seen.withLock { noted in
            defer { noted = [:] }
            return noted
        }
        guard !agents.isEmpty else { return }
        do {
            try await store.recordSeen(agents)
        } catch {
            logger.error(
                "Cannot record which devices were heard from",
                metadata: ["ingest.agents": "\(agents.count)", "error": "\(error)"])
        }
    }

    /// A sync answer the broker session took delivers the offers it lists like their own task messages: they count
    /// as sent (``Offer/sent``).
    func markSent(_ answer: TaskSyncAnswer) async {
        let now = clock()
        for task in answer.tasks where task.type == .offer {
            do {
                try await store.markOfferSent(order: task.order, agent: answer.agent, at: now)
            } catch {
                logger.error(
                    "Cannot record that a sync answer sent an offer",
                    metadata: ["agent.id": "\(answer.agent)", "order.id": "\(task.order)", "error": "\(error)"])
            }
        }
    }
}
