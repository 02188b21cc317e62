import Foundation

/// A process's memory and CPU as Linux reports them in /proc (values in kB = 1,024 bytes, as the kernel prints
/// them; ``megabytes(kB:)`` converts to decimal MB for the printed figures).
enum ProcFigures {
    struct Memory {
        /// VmRSS: resident now.
        var rssKB = 0
        /// VmHWM: the peak resident size since the process started (start-up included).
        var hwmKB = 0
        /// RssAnon (heap, stacks, SQLite's cache) and RssFile (code and data pages of the binary and libraries).
        var anonKB = 0
        var fileKB = 0
        var threads = 0
        /// Pss (from smaps_rollup): resident pages divided by the number of processes mapping them, the process's
        /// share of the machine's memory (RSS counts shared library pages in full).
        var pssKB = 0
    }

    static func status(pid: Int32) -> Memory {
        var memory = Memory()
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return memory }
        for line in text.split(separator: "\n") {
            let fields = line.split(omittingEmptySubsequences: true) { $0 == " " || $0 == "\t" }
            guard fields.count >= 2, let value = Int(fields[1]) else { continue }
            switch fields[0] {
            case "VmRSS:": memory.rssKB = value
            case "VmHWM:": memory.hwmKB = value
            case "RssAnon:": memory.anonKB = value
            case "RssFile:": memory.fileKB = value
            case "Threads:": memory.threads = value
            default: break
            }
        }
        if let rollup = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) {
            for line in rollup.split(separator: "\n") where line.hasPrefix("Pss:") {
                memory.pssKB = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
            }
        }
        return memory
    }

    /// User + system CPU seconds the process has used.
    static func cpuSeconds(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // Fields after the command: state(0) … utime(11) stime(12), in clock ticks.
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
    }

    /// Decimal megabytes (10^6 bytes) of a /proc figure in kB (1,024 bytes).
    static func megabytes(kB: Int) -> Double { Double(kB) * 1024 / 1e6 }
}
