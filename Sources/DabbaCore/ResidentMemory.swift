#if canImport(Glibc)
    import Glibc
#endif

/// Resident-memory housekeeping for small devices.
public enum ResidentMemory {
    /// Hands back the clean, file-backed pages this process touched while starting (argument parsing, runtime
    /// metadata scans, library initialisers, the dynamic loader's symbol tables and relocations, and the 64 KiB the
    /// kernel maps around every fault). Returns the number of mappings advised. No-op where unsupported.
    ///
    /// Only file mappings that are not writable are advised, and only those holding no private (copy-on-write)
    /// page are unmapped, so nothing is lost: a page still needed faults in again from the page cache. Two advices,
    /// because `RSS` counts every page mapped, also those other processes map too:
    /// - `MADV_PAGEOUT` reclaims the pages only this process maps (the agent's own code, mostly);
    /// - `MADV_DONTNEED` then unmaps the rest: library pages another process also maps (libc, libcrypto, libsqlite3
    ///   next to a local broker or systemd), which `MADV_PAGEOUT` leaves alone. They stay in the page cache for that
    ///   other process, so this lowers the agent's RSS, not the machine's memory use (PSS shows the agent's share).
    @discardableResult
    public static func releaseStartupPages() -> Int {
        guard let smaps = fopen("/proc/self/smaps", "r") else { return 0 }
        defer { fclose(smaps) }
        var advised = 0
        var line = [CChar](repeating: 0, count: 512)
        let pageout: Int32 = 21  // MADV_PAGEOUT, Linux 5.4+
        var candidate: (start: UInt, end: UInt)?
        while fgets(&line, Int32(line.count), smaps) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, let dash = range.firstIndex(of: "-"),
                let start = UInt(range[..<dash], radix: 16),
                let end = UInt(range[range.index(after: dash)...].prefix { $0 != " " }, radix: 16)
            {
                // A mapping's header line: a candidate when file-backed and not writable.
                let path = fields.count >= 6 ? fields[5] : ""
                candidate = path.hasPrefix("/") && !fields[1].contains("w") ? (start, end) : nil
            } else if fields.first == "Anonymous:", let mapping = candidate {
                candidate = nil
                let address = UnsafeMutableRawPointer(bitPattern: mapping.start)
                let length = Int(mapping.end - mapping.start)
                if madvise(address, length, pageout) == 0 { advised += 1 }
                // Pages a relocation wrote (RELRO) are private copies: unmapping them would lose them.
                if fields.count >= 2, fields[1] == "0" { _ = madvise(address, length, MADV_DONTNEED) }
            }
        }
        return advised
    }

    /// Returns the heap's free pages to the kernel (`malloc_trim`): glibc keeps what a burst freed (a backlog drained,
    /// thousands of messages queued and sent) in its arenas, resident, unless asked. Cheap on a small heap.
    public static func trimHeap() {
        #if canImport(Glibc)
            // <malloc.h> is not part of the Glibc module: look the function up once.
            _ = trim?(0)
        #endif
    }

    /// Makes glibc's allocator suit a small long-running daemon; call first thing in `main`, before threads start.
    /// One arena (`M_ARENA_MAX` 1) instead of up to eight per core: a burst handled on several threads (the MQTT
    /// network thread, the engine's thread, the cooperative pool) otherwise leaves free memory scattered over
    /// several arenas that ``trimHeap()`` cannot give back while a few live objects sit in each. A fixed mmap
    /// threshold (`M_MMAP_THRESHOLD` 128 KiB, glibc's initial value) stops glibc from raising it after a burst
    /// frees large buffers, so the next burst's large buffers are mapped and unmapped instead of fragmenting the
    /// heap. The cost is a lock shared by the agent's few threads, uncontended at 1 Hz. Returns whether glibc
    /// accepted both.
    @discardableResult
    public static func configureHeapForDaemon() -> Bool {
        #if canImport(Glibc)
            guard let mallopt = mallopt else { return false }
            let arenaMax: Int32 = -8  // M_ARENA_MAX in <malloc.h>
            let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
            return mallopt(arenaMax, 1) == 1 && mallopt(mmapThreshold, 128 * 1024) == 1
        #else
            return false
        #endif
    }

    #if canImport(Glibc)
        private typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        private static let mallopt: Mallopt? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt").map {
            unsafeBitCast($0, to: Mallopt.self)
        }
        private typealias MallocTrim = @convention(c) (Int) -> Int32
        private static let trim: MallocTrim? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim").map {
            unsafeBitCast($0, to: MallocTrim.self)
        }
    #endif
}
