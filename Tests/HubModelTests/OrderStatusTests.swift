import Testing

@testable import HubModel

/// The order state machine: every (state, action) pair either leads where the table says or is refused naming the
/// current state.
struct OrderStatusTests {
    /// Every legal (state, action) pair and where it leads; everything else must be refused.
    static let legal: [OrderStatus: [OrderAction: OrderStatus]] = [
        .placed: [.accept: .confirmed, .reject: .rejected, .cancel: .cancelled],
        .confirmed: [
            .prepare: .preparing, .ready: .readyForPickup, .assign: .assigned, .cancel: .cancelled, .fail: .failed,
        ],
        .preparing: [.ready: .readyForPickup, .assign: .assigned, .cancel: .cancelled, .fail: .failed],
        .readyForPickup: [.assign: .assigned, .cancel: .cancelled, .fail: .failed],
        .assigned: [
            .prepare: .assigned, .ready: .assigned, .unassign: .confirmed, .pickup: .pickedUp, .cancel: .cancelled,
            .fail: .failed,
        ],
        .pickedUp: [.deliver: .delivered, .fail: .failed],
    ]

    @Test func everyTransitionIsEitherInTheTableOrRefusedWithTheCurrentState() throws {
        var refused = 0
        for status in OrderStatus.allCases {
            for action in OrderAction.allCases {
                if let expected = Self.legal[status]?[action] {
                    #expect(try OrderStatus.transition(from: status, action: action) == expected, "\(status) \(action)")
                } else {
                    #expect(throws: OrderTransitionError(current: status, action: action)) {
                        try OrderStatus.transition(from: status, action: action)
                    }
                    refused += 1
                }
            }
        }
        #expect(
            refused == OrderStatus.allCases.count * OrderAction.allCases.count
                - Self.legal.values.reduce(0) { $0 + $1.count })
        for terminal in OrderStatus.allCases where terminal.isTerminal { #expect(Self.legal[terminal] == nil) }
        // Giving an assigned order back returns to where the kitchen is.
        #expect(try OrderStatus.transition(from: .assigned, action: .unassign, kitchenReady: true) == .readyForPickup)
    }
}
