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
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private let stopped = Atomic<Bool>(false)

    /// Starts the thread.
    public init(name: String) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        NativeThread.detach(name: name) { [self] in self.runLoop() }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(&mutex)
        queue.append(job)
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Stops the thread after the jobs already queued have run.
    public func shutdown() {
        stopped.store(true, ordering: .releasing)
        pthread_mutex_lock(&mutex)
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    private func runLoop() {
        var jobs: [UnownedJob] = []
        while true {
            pthread_mutex_lock(&mutex)
            while queue.isEmpty {
                if stopped.load(ordering: .acquiring) {
                    pthread_mutex_unlock(&mutex)
                    return
                }
                pthread_cond_wait(&condition, &mutex)
            }
            swap(&jobs, &queue)
            pthread_mutex_unlock(&mutex)
            for job in jobs { job.runSynchronously(on: asUnownedSerialExecutor()) }
            jobs.removeAll(keepingCapacity: true)
        }
    }
}
