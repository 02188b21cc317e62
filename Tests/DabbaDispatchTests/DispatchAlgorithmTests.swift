import Testing

/// Every dispatch suite, one test at a time. They are CPU-bound (seconds each in a debug build); run in parallel
/// they would hold every thread of the cooperative pool (one per core, 2 here) and stall the I/O tests of the other
/// targets running alongside (brokers that seem not to listen, timeouts).
@Suite(.serialized) enum DispatchAlgorithmTests {}
