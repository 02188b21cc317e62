#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization

/// A serial executor backed by one dedicated OS thread.
///
/// An actor that returns this executor's `asUnownedSerialExecutor()` from `unownedExecutor` runs all its code on that
/// thread, so it may make blocking C calls (SQLite commits with fsync, for instance) without starving Swift's
/// cooperative pool.
public final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    /// Guarded by `mutex`.
    private var queue: [UnownedJob] = []
    // On the heap: pthread objects must not move, and a class's stored property has no guaranteed stable address.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let stopped = Atomic<Bool>(false)
    private let name: String
    /// Guarded by `mutex`: whether a thread is serving the queue.
    private var threadRunning = true

    /// Starts the thread.
    public init(name: String) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        self.name = name
        NativeThread.detach(name: name) { [self] in self.runLoop() }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        queue.append(job)
        let restart = !threadRunning
        threadRunning = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        if restart { NativeThread.detach(name: name) { [self] in self.runLoop() } }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Stops the thread once the queue is empty. Jobs enqueued later start it again, so an actor on this executor
    /// never hangs.
    public func shutdown() {
        stopped.store(true, ordering: .releasing)
        pthread_mutex_lock(mutex)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func runLoop() {
        var jobs: [UnownedJob] = []
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty {
                if stopped.load(ordering: .acquiring) {
                    threadRunning = false
                    pthread_mutex_unlock(mutex)
                    return
                }
                pthread_cond_wait(condition, mutex)
            }
            swap(&jobs, &queue)
            pthread_mutex_unlock(mutex)
            for job in jobs { job.runSynchronously(on: asUnownedSerialExecutor()) }
            jobs.removeAll(keepingCapacity: true)
        }
    }
}
