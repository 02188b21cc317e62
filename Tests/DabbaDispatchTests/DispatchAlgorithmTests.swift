import Testing

/// Every dispatch suite, one test at a time, each on a thread of its own (`.offPool`). They are CPU-bound (seconds
/// each in a debug build, a minute on a loaded machine); on the cooperative pool (one thread per core, 2 here) they
/// would stall the I/O tests of the other targets running alongside (servers that seem not to listen, timeouts) —
/// one at a time they held one of its two threads, which a loaded clean run showed was still too much.
@Suite(.serialized, .offPool) enum DispatchAlgorithmTests {}
