#if canImport(Glibc)
    import Glibc
#endif

/// A 24-byte sidecar next to the outbox (`<outbox>.seq`) that keeps seqs from being reused when the database cannot
/// say how far they went: after its header was damaged (salvage), or for fixes sent live while the disk was full.
///
/// It holds `reserved` — every seq ever handed out is at or below it; raised in blocks of 10,000, fsynced before
/// use — and `volatile`, the highest seq sent without a stored row. Updates overwrite the same bytes in place, which
/// needs no new disk blocks, so they work on a full disk.
final class SeqGuard {
    static let block: Int64 = 10_000
    static let magic: Int64 = 0x4441_4242_4153_4551  // "DABBASEQ"

    let path: String
    private let fd: Int32
    private(set) var reserved: Int64 = 0
    private(set) var volatileHigh: Int64 = 0
    /// False when the sidecar was created just now (it then knows nothing about earlier seqs).
    let hadRecord: Bool

    /// The highest seq that may have been used, when the sidecar knew it before this open.
    var floor: Int64? { hadRecord ? max(reserved, volatileHigh) : nil }

    /// Opens (creating) the sidecar; nil when it cannot be opened (the outbox then works without it).
    init?(path: String) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return nil }
        self.fd = fd
        var record = [Int64](repeating: 0, count: 3)
        let n = record.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        hadRecord = n == 24 && Int64(littleEndian: record[0]) == Self.magic
        if hadRecord {
            reserved = Int64(littleEndian: record[1])
            volatileHigh = Int64(littleEndian: record[2])
        } else if !write() {
            return nil
        }
    }

    deinit { close(fd) }

    /// Makes sure `seq` is covered by the durable reservation; false when the sidecar could not be written.
    @discardableResult
    func reserve(through seq: Int64) -> Bool {
        guard seq > reserved else { return true }
        let previous = reserved
        reserved = seq > Int64.max - Self.block ? Int64.max : seq + Self.block
        if write() { return true }
        reserved = previous
        return false
    }

    /// Gives back the reservation above `seq` (a clean stop: everything up to `seq` is durable in the outbox).
    /// Never below a seq sent without a stored row.
    func release(downTo seq: Int64) {
        let target = max(seq, volatileHigh)
        guard target < reserved else { return }
        let previous = reserved
        reserved = target
        if !write() { reserved = previous }
    }

    /// Records a seq used without a stored row; false (and the seq must not be used) when it cannot be made durable.
    func recordVolatile(_ seq: Int64) -> Bool {
        guard reserve(through: seq) else { return false }
        let previous = volatileHigh
        volatileHigh = max(volatileHigh, seq)
        if write() { return true }
        volatileHigh = previous
        return false
    }

    private func write() -> Bool {
        let record = [Self.magic.littleEndian, reserved.littleEndian, volatileHigh.littleEndian]
        let n = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return n == 24 && fdatasync(fd) == 0
    }
}
