import Foundation
import Logging
import Synchronization

/// Which store operations are in flight, and where each one is: waiting for a connection of the pool, or holding
/// connection N. An operation that takes longer than ``StalledOperations/threshold`` is logged once (a warning
/// naming it, where it is and for how long), and again when it ends; `/health` and the ingest metrics show the
/// effect of a stall, this shows its place.
final class StalledOperations: Sendable {
    /// How long an operation may take before it is reported.
    static let threshold: Duration = .seconds(15)
    /// How often the operations in flight are looked at.
    static let interval: Duration = .seconds(5)

    struct Operation: Sendable {
        let name: String
        let started: ContinuousClock.Instant
        var connection: Int?
        var reported = false
    }

    private let operations = Mutex<(next: Int, running: [Int: Operation])>((0, [:]))
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Registers an operation waiting for a connection; returns its token.
    func begin(_ name: String) -> Int {
        operations.withLock { state in
            state.next += 1
            state.running[state.next] = Operation(name: name, started: .now)
            return state.next
        }
    }

    /// The operation got connection `id` of the pool.
    func leased(_ token: Int, connection id: Int) {
        operations.withLock { $0.running[token]?.connection = id }
    }

    /// The operation returned or threw.
    func end(_ token: Int) {
        guard let operation = operations.withLock({ $0.running.removeValue(forKey: token) }), operation.reported
        else { return }
        logger.notice(
            "Slow database operation finished",
            metadata: ["db.operation": "\(operation.name)", "db.seconds": "\(Self.seconds(since: operation.started))"])
    }

    /// Logs every operation in flight for longer than the threshold that was not reported yet.
    func report(now: ContinuousClock.Instant = .now) {
        let stalled = operations.withLock { state -> [Operation] in
            var found: [Operation] = []
            for (token, operation) in state.running
            where !operation.reported && now - operation.started > Self.threshold {
                state.running[token]?.reported = true
                found.append(operation)
            }
            return found
        }
        for operation in stalled {
            logger.warning(
                "Database operation stalled",
                metadata: [
                    "db.operation": "\(operation.name)", "db.seconds": "\(Self.seconds(since: operation.started))",
                    "db.stage":
                        "\(operation.connection.map { "holding connection \($0)" } ?? "waiting for a connection")",
                ])
        }
    }

    /// Reports stalls every ``interval`` until cancelled.
    func watch() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.interval) } catch { return }
            report()
        }
    }

    private static func seconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        return String(
            format: "%.1f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
