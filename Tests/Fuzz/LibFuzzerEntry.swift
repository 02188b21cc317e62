// The libFuzzer entry points for `make fuzz`, linked against the `DabbaFuzz` static library built with
// `-sanitize=fuzzer,address` (not a SwiftPM target: SwiftPM names an executable's `main` itself, and libFuzzer
// brings its own). `DABBA_FUZZ_TARGET` picks one of `FuzzTarget`'s cases.
import DabbaFuzz

#if canImport(Glibc)
    import Glibc
#endif

nonisolated(unsafe) private var selected: FuzzTarget = .json

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    guard let name = getenv("DABBA_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name)
    else {
        var line = Array("dabba-fuzz: set DABBA_FUZZ_TARGET to one of: \(names)\n".utf8)
        _ = write(2, &line, line.count)
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
