#if canImport(Glibc)
    import Glibc
#endif

/// Resident-memory housekeeping for small devices.
public enum ResidentMemory {
    /// Asks the kernel to reclaim the clean, file-backed pages this process touched while starting (argument
    /// parsing, runtime metadata scans, library initialisers, and the 64 KiB the kernel maps around every fault).
    /// Only read-only and executable file mappings are advised (`MADV_PAGEOUT`), so no data is lost: a page still
    /// needed simply faults in again. Returns the number of mappings advised. No-op where unsupported.
    @discardableResult
    public static func releaseStartupPages() -> Int {
        guard let maps = fopen("/proc/self/maps", "r") else { return 0 }
        defer { fclose(maps) }
        var advised = 0
        var line = [CChar](repeating: 0, count: 512)
        let pageout: Int32 = 21  // MADV_PAGEOUT, Linux 5.4+
        while fgets(&line, Int32(line.count), maps) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[5].hasPrefix("/"), !fields[1].contains("w"),
                let dash = fields[0].firstIndex(of: "-"),
                let start = UInt(fields[0][..<dash], radix: 16),
                let end = UInt(fields[0][fields[0].index(after: dash)...], radix: 16)
            else { continue }
            if madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), pageout) == 0 { advised += 1 }
        }
        return advised
    }
}
