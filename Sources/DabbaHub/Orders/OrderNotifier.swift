import DabbaMQTT
import DabbaProtocol
import Foundation
import HubModel
import Logging

/// Hands committed order events to everyone who follows them: the hub's own subscribers (customer and operator
/// WebSockets, webhooks) through the ``OrderEventBus``, the other hubs through `dabba/v1/orders/{order}/status`,
/// and the assigned agent's device through its `tasks` topic.
package struct OrderNotifier: Sendable {
    package let bus: OrderEventBus
    let mqtt: MQTTClient?
    let logger: Logger
    /// Counts task messages that could not be published (``HubMetrics/taskPublishFailures(_:)``).
    let metrics: HubMetrics?

    package init(bus: OrderEventBus, mqtt: MQTTClient?, logger: Logger, metrics: HubMetrics? = nil) {
        self.bus = bus
        self.mqtt = mqtt
        self.logger = logger
        self.metrics = metrics
    }

    /// True while the hub has a broker session (a task published now reaches the broker).
    package var isConnected: Bool { mqtt?.isConnected ?? false }

    /// Publishes `event` (committed) locally and to the broker, and tells the agent about its task when `order`
    /// was assigned, unassigned or cancelled.
    package func committed(_ event: OrderEvent, order: OrderRecord, pickup: TaskMessage.Place? = nil) {
        bus.publish(event)
        guard let mqtt else { return }
        relay(event, through: mqtt)
        guard let agent = event.agent ?? order.agentID else { return }
        let kind: TaskMessage.Kind? =
            switch event.action {
            case .assign: .assigned
            case .unassign, .cancel, .fail: .cancelled
            default: nil
            }
        guard let kind else { return }
        task(kind, agent: agent, order: order, pickup: pickup)
    }

    /// Publishes `event` on `dabba/v1/orders/{order}/status` for the other hubs' feeds. A refusal (no broker session)
    /// is counted in `dabba_order_status_publish_failures_total` and logged: the event is committed and this hub's
    /// subscribers have it; only other hubs' live feeds miss the update.
    func relay(_ event: OrderEvent, through mqtt: MQTTClient) {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let payload = try encoder.encode(event)
            try mqtt.publish(topic: event.topic, payload: Array(payload), qos: .atLeastOnce)
        } catch {
            metrics?.orderStatusPublishFailures.increment()
            logger.warning(
                "Order event not relayed to other hubs",
                metadata: ["order.id": "\(event.order)", "order.status": "\(event.status)", "error": "\(error)"])
        }
    }

    /// Publishes a task message (offer, assignment, cancellation) on the agent's `tasks` topic (QoS 1; the device
    /// keeps it in its SQLite store). Returns true when the broker session took it; a refusal (no session: the
    /// broker is down or the hub is reconnecting) is counted in `dabba_task_publish_failures_total{kind}` and
    /// logged. Delivery is at least once all the same: the dispatcher sends every pending offer and assignment again
    /// when the hub (re)connects (``Dispatcher/resendTasks()``), an offer never sent at the next round, and the
    /// device asks for its tasks on every reconnect (`…/sync`).
    @discardableResult
    package func task(
        _ kind: TaskMessage.Kind, agent: String, order: OrderRecord, pickup: TaskMessage.Place? = nil,
        expiresAt: String? = nil
    ) -> Bool {
        guard mqtt != nil else { return false }
        let task = Self.taskMessage(kind, agent: agent, order: order, pickup: pickup, expiresAt: expiresAt)
        return publishTask(PayloadCoding.encode(task), kind, agent: agent, order: order.id)
    }

    /// Publishes a task message already encoded (`PayloadCoding.encode(taskMessage(…))`), as ``task(_:agent:order:pickup:expiresAt:)``
    /// does: a dispatch round encodes its offers while the store writes them.
    package func publishTask(_ payload: [UInt8], _ kind: TaskMessage.Kind, agent: String, order: String) -> Bool {
        guard let mqtt else { return false }
        do {
            _ = try mqtt.publish(topic: Topics.tasks(agent: agent), payload: payload, qos: .atLeastOnce)
            return true
        } catch {
            metrics?.taskPublishFailures(kind.rawValue).increment()
            logger.warning(
                "Cannot publish a task message; it is sent again after the broker reconnects",
                metadata: [
                    "agent.id": "\(agent)", "order.id": "\(order)", "task.type": "\(kind.rawValue)",
                    "error": "\(error)",
                ])
            return false
        }
    }

    /// The task message for `order` as the device gets it: drop-off, cash to collect (cash on delivery), the
    /// pickup place when known, and the offer's deadline. Both single task messages and sync answers use it.
    package static func taskMessage(
        _ kind: TaskMessage.Kind, agent: String, order: OrderRecord, pickup: TaskMessage.Place? = nil,
        expiresAt: String? = nil
    ) -> TaskMessage {
        TaskMessage(
            agent: agent, order: order.id, type: kind, pickup: pickup,
            dropoff: .init(name: nil, address: order.address, lat: order.dropLat, lon: order.dropLon),
            cashToCollect: order.paymentMethod == .cod ? order.total : nil, currency: order.currency,
            expiresAt: expiresAt)
    }

    /// An event another hub published on `dabba/v1/orders/{order}/status`: handed to this hub's subscribers unless
    /// it was already seen.
    package func relayed(_ payload: [UInt8]) -> Bool {
        guard let event = try? JSONDecoder().decode(OrderEvent.self, from: Data(payload)) else { return false }
        return bus.publish(event)
    }
}
