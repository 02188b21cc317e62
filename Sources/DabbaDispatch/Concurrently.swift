import Dispatch

extension BatchProblem {
    /// Runs `body(i)` for every `i` in `0..<count` on the machine's cores (libdispatch's `concurrentPerform`: the
    /// calling thread takes part, and each iteration runs once), and returns when all have run. For independent
    /// CPU work; one iteration or none runs on the caller's thread alone.
    static func concurrently(_ count: Int, _ body: @Sendable (Int) -> Void) {
        guard count > 1 else {
            for i in 0..<count { body(i) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}

/// A buffer whose elements `BatchProblem.concurrently`'s iterations write, each iteration its own elements (never
/// one another's), while the owner waits for them: the only use that makes it safe to send.
struct DisjointWrites<Element>: @unchecked Sendable {
    let base: UnsafeMutableBufferPointer<Element>

    subscript(i: Int) -> Element {
        get { base[i] }
        nonmutating _modify { yield &base[i] }
        nonmutating set { base[i] = newValue }
    }
}
