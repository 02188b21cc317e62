import DabbaProtocol
import Testing

@testable import HubModel

/// The decisions both storage backends take from what their transaction read (``OrderChange/apply(to:id:now:)``,
/// ``DeviceAction/plan(order:takenAt:)``, ``AssignmentLimits/refusal(agent:for:onShift:online:held:sameRestaurant:exposure:)``,
/// ``PaymentOperation/settle(_:payment:now:)``): pure, so one test covers SQLite and PostgreSQL alike (the contract
/// suite checks each backend carries them out).
struct BackendRulesTests {
    static func order(
        _ status: OrderStatus = .confirmed, agent: String? = nil, method: PaymentMethod = .cod, total: Int64 = 500
    ) -> OrderRecord {
        OrderRecord(
            id: "o-1", customerID: 7, restaurantID: "r-1", status: status, agentID: agent, paymentMethod: method,
            currency: "INR", subtotal: total, deliveryFee: 0, tax: 0, total: total, address: "1 Main St",
            dropLat: 22.3, dropLon: 87.3, zoneID: nil, createdAt: 1_000, updatedAt: 1_000, lines: [])
    }

    @Test func anOrderChangeDecidesTheNextStateAndItsTrailEntry() throws {
        let assign = OrderChange(action: .assign, actor: "system", reason: "dispatch", agent: "a-1")
        guard case .changed(let assigned, let entry) = assign.apply(to: Self.order(), id: "o-1", now: 5_000) else {
            Issue.record("assign does not apply to a confirmed order")
            return
        }
        #expect(assigned.status == .assigned && assigned.agentID == "a-1" && assigned.updatedAt == 5_000)
        #expect(entry.id == 0 && entry.previous == .confirmed && entry.agent == "a-1" && entry.reason == "dispatch")
        let unassign = OrderChange(action: .unassign, actor: "system")
        guard case .changed(let back, let undone) = unassign.apply(to: assigned, id: "o-1", now: 6_000) else {
            Issue.record("unassign does not apply to an assigned order")
            return
        }
        #expect(back.agentID == nil && undone.agent == "a-1", "the trail names the agent it was taken from")
        let deliver = OrderChange(action: .deliver, actor: "agent:a-1")
        guard case .illegal(let error) = deliver.apply(to: Self.order(), id: "o-1", now: 5_000) else {
            Issue.record("a confirmed order was delivered")
            return
        }
        #expect(error.current == .confirmed)
        let mine = OrderChange(action: .pickup, actor: "agent:a-2", requiredAgent: "a-2")
        guard case .notFound = mine.apply(to: assigned, id: "o-1", now: 5_000) else {
            Issue.record("another agent's order was changed")
            return
        }
        guard case .notFound = assign.apply(to: nil, id: "o-9", now: 5_000) else {
            Issue.record("no order, yet a change")
            return
        }
        #expect(throws: StoreError.self) { try assign.apply(to: nil, id: "o-9", now: 5_000).get("o-9") }
    }

    @Test func aDeviceActionIsAppliedRepeatedReclaimedOrRefusedByWhenTheOrderWasTaken() {
        let pickup = DeviceAction(agent: "a-1", seq: 3, order: "o-1", action: .pickup, time: 10_000, cashCollected: nil)
        #expect(!pickup.needsTakenAt(nil) && !pickup.needsTakenAt(Self.order(.assigned, agent: "a-1")))
        #expect(pickup.needsTakenAt(Self.order(.assigned, agent: "a-2")))
        #expect(
            pickup.plan(order: Self.order(.assigned, agent: "a-1"), takenAt: nil)
                == .apply(OrderChange(action: .pickup, actor: "agent:a-1", requiredAgent: "a-1")))
        #expect(pickup.plan(order: Self.order(.pickedUp, agent: "a-1"), takenAt: nil) == .repeated)
        guard case .refuse(let never) = pickup.plan(order: Self.order(.assigned, agent: "a-2"), takenAt: nil) else {
            Issue.record("a pickup of an order never this agent's was not refused")
            return
        }
        #expect(never.alert == nil && never.message.contains("assigned to a-2"))
        guard case .refuse(let late) = pickup.plan(order: Self.order(.assigned, agent: "a-2"), takenAt: 9_000) else {
            Issue.record("a pickup made after the order was taken was not refused")
            return
        }
        #expect(late.alert == DeviceActionRefusal.lateAlert)
        guard case .reclaim(let changes, _) = pickup.plan(order: Self.order(.assigned, agent: "a-2"), takenAt: 11_000)
        else {
            Issue.record("a pickup made before the order was taken back did not win")
            return
        }
        #expect(changes.map(\.action) == [.unassign, .assign, .pickup])
        let deliver = DeviceAction(
            agent: "a-1", seq: 4, order: "o-1", action: .deliver, time: 10_000, cashCollected: 500)
        guard case .reclaim(let all, _) = deliver.plan(order: Self.order(.preparing), takenAt: 11_000) else {
            Issue.record("a delivery made before the order was taken back did not win")
            return
        }
        #expect(all.map(\.action) == [.assign, .pickup, .deliver] && all.last?.cashCollected == 500)
        guard case .refuse = deliver.plan(order: Self.order(.pickedUp, agent: "a-2"), takenAt: 11_000) else {
            Issue.record("a late delivery of an order another agent picked up was applied")
            return
        }
    }

    @Test func aRefusedDeliveryPostsItsCashWhenTheCurrencyIsKnownAndAlwaysAlerts() throws {
        let deliver = DeviceAction(
            agent: "a-1", seq: 4, order: "o-1", action: .deliver, time: 10_000, cashCollected: 500)
        let refused = DeviceActionRefusal(message: "no", alert: nil, cashRecorded: nil)
        let known = deliver.recording(refused, order: Self.order())
        #expect(known.refusal.cashRecorded == 500 && known.refusal.alert == DeviceActionRefusal.cashAlert)
        let posting = try #require(known.posting)
        #expect(posting.currency == "INR" && posting.kind == "cash_unapplied")
        #expect(throws: Never.self) { try posting.validate() }
        #expect(known.alertMessage?.contains("is posted to agent:a-1:cash") == true)
        let unknown = deliver.recording(refused, order: nil)
        #expect(unknown.posting == nil && unknown.refusal.cashRecorded == nil)
        #expect(unknown.alertMessage?.contains("not posted (no such order, currency unknown)") == true)
        let pickup = DeviceAction(agent: "a-1", seq: 5, order: "o-1", action: .pickup, time: 10_000, cashCollected: 9)
        let quiet = pickup.recording(refused, order: Self.order())
        #expect(quiet.posting == nil && quiet.alertMessage == nil, "a pickup reports no cash")
    }

    @Test func assignmentChecksCountCapacityRestaurantsAndCashWithoutOverflow() {
        let limits = AssignmentLimits(capacity: 2, codCashLimit: 1_000)
        let order = Self.order(total: 400)
        func check(onShift: Bool = true, online: Bool = true, held: [HeldOrder] = [], exposure: Int64? = 0)
            -> AssignmentRefusal?
        {
            limits.refusal(
                agent: "a-1", for: order, onShift: onShift, online: online, held: held, sameRestaurant: true,
                exposure: exposure)
        }
        #expect(check() == nil)
        #expect(check(onShift: false) == .offShift(agent: "a-1"))
        #expect(check(online: false) == .offline(agent: "a-1"))
        let held = HeldOrder(restaurant: "r-1", cash: true, currency: "INR", total: 300, offered: true)
        #expect(check(held: [held, held]) == .atCapacity(agent: "a-1", carried: 0, offered: 2, capacity: 2))
        var elsewhere = held
        elsewhere.restaurant = "r-2"
        #expect(check(held: [elsewhere]) == .otherRestaurant(agent: "a-1", carrying: "r-2"))
        #expect(
            check(exposure: 700)
                == .cashLimit(agent: "a-1", exposure: 700, amount: 400, limit: 1_000, currency: "INR"))
        // An exposure at Int64.max plus the order's total would trap unchecked: it is over any limit instead.
        #expect(
            check(exposure: .max)
                == .cashLimit(agent: "a-1", exposure: .max, amount: 400, limit: 1_000, currency: "INR"))
        let parts = AssignmentLimits.exposure(ledger: .max, unposted: 1, held: [held], currency: "INR")
        #expect(parts == .max, "a sum past Int64 saturates")
        #expect(AssignmentLimits.exposure(ledger: 100, unposted: 50, held: [held, elsewhere], currency: "INR") == 750)
        #expect(AssignmentLimits.exposure(ledger: 100, unposted: 0, held: [held], currency: "USD") == 100)
    }

    @Test func settlingAProviderOperationRecordsItAndSaysWhatItDoesToThePayment() {
        var payment = PaymentRecord(
            id: "p-1", orderID: "o-1", customerID: 7, method: .card, provider: "test", currency: "INR", amount: 500,
            createdAt: 1_000)
        var authorize = PaymentOperation(key: "authorize-p-1", paymentID: "p-1", kind: .authorize, amount: 500, now: 1)
        authorize.leaseOwner = "hub-1"
        authorize.leaseUntil = 99
        var op = authorize
        #expect(
            op.settle(.succeeded(.authorized(reference: "ch_1")), payment: payment, now: 50)
                == [.settle(.authorized(reference: "ch_1"))])
        #expect(op.state == .succeeded && op.leaseOwner == nil && op.leaseUntil == 0 && op.updatedAt == 50)
        op = authorize
        #expect(
            op.settle(.retry(error: "timeout", unknown: true, at: 80), payment: payment, now: 50) == [.abandonWaiting])
        #expect(op.state == .pending && op.attempts == 1 && op.nextAttempt == 80 && op.outcomeUnknown)
        op = authorize
        #expect(
            op.settle(.dead(error: "gone", unknown: true), payment: payment, now: 50) == [
                .abandonWaiting, .alertDeadLetter,
            ])
        #expect(op.deadLetterMessage(payment).contains("given up (gone)"))
        payment.state = .failed
        op = authorize
        #expect(
            op.settle(.succeeded(.authorized(reference: "ch_2")), payment: payment, now: 50)
                == [.releaseLateHold(reference: "ch_2")], "a hold placed after the payment was given up is released")
        var capture = PaymentOperation(key: "capture-p-1", paymentID: "p-1", kind: .capture, amount: 500, now: 1)
        #expect(capture.settle(.refused(reason: "expired"), payment: payment, now: 50) == [.alertDeadLetter])
        #expect(capture.state == .dead)
        var refund = PaymentOperation(
            key: "refund-p-1-r", paymentID: "p-1", kind: .refund, refundID: "r", amount: 5, now: 1)
        #expect(refund.settle(.refused(reason: "no"), payment: payment, now: 50) == [.finishRefund(succeeded: false)])
        #expect(refund.state == .failed)
    }

    @Test func aProviderEventAppliesOnlyWhenNewerThanTheLastApplied() throws {
        var payment = PaymentRecord(
            id: "p-1", orderID: "o-1", customerID: 7, method: .card, provider: "test", currency: "INR", amount: 500,
            createdAt: 1_000)
        payment.providerSeq = 3
        let old = ProviderEvent(id: "e-1", type: .authorized, payment: "ch_1", sequence: 3)
        let stale = try PaymentRules.providerEvent(old, provider: "test", to: payment, now: 9)
        #expect(stale.payment == nil && stale.posting == nil && stale.outcome == .ignored)
        let new = ProviderEvent(id: "e-2", type: .authorized, payment: "ch_1", sequence: 4)
        let applied = try PaymentRules.providerEvent(new, provider: "test", to: payment, now: 9)
        #expect(applied.outcome == .applied && applied.payment?.state == .authorized && applied.posting != nil)
        #expect(applied.payment?.providerSeq == 4)
    }

    @Test func aStoredPickupOrDeliveryIsReadWithItsCashBoundedAndDamageRefused() throws {
        func stored(_ type: AgentEvent.Kind, cash: Int64?) throws -> DeviceEvent {
            let event = AgentEvent(
                agent: "a-1", seq: 9, time: "2026-12-06T10:00:00.000Z", order: "o-1", type: type, cashCollected: cash)
            return DeviceEvent(
                agent: "a-1", seq: 9, time: 1_000, order: "o-1", type: type.rawValue,
                payload: PayloadCoding.encode(event))
        }
        #expect(
            DeviceAction.reading(try stored(.delivered, cash: 500))
                == .action(
                    DeviceAction(agent: "a-1", seq: 9, order: "o-1", action: .deliver, time: 1_000, cashCollected: 500))
        )
        guard case .action(let pickup) = DeviceAction.reading(try stored(.pickedUp, cash: nil)) else {
            Issue.record("a pickup was not read as one")
            return
        }
        #expect(pickup.action == .pickup)
        #expect(DeviceAction.reading(try stored(.delivered, cash: .max)) == .impossibleCash(.max))
        #expect(DeviceAction.reading(try stored(.delivered, cash: -1)) == .impossibleCash(-1))
        #expect(DeviceAction.reading(try stored(.accepted, cash: nil)) == .notAnAction)
        var damaged = try stored(.delivered, cash: 500)
        damaged.payload = Array("{\"cashCollected\":".utf8)
        guard case .undecodable = DeviceAction.reading(damaged) else {
            Issue.record("a damaged delivery was read as applicable")
            return
        }
    }
}
