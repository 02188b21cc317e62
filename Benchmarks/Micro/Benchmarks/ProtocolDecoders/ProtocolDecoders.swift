import Benchmark
import DabbaProtocol

// The decoders of what devices send the hub, each next to the general-purpose path on the same bytes (the hub's fast
// parsers against `JSONDecoder` through `PayloadCoding.decode`): time and allocations per payload. A sample is 1,000
// calls (`.kilo`) and the figures are per call, so the harness's own ~16 allocations and ~0.1 µs per sample (the
// baseline below, measured the same way) are spread over them.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .nanoseconds, scalingFactor: .kilo,
        maxDuration: .seconds(2), maxIterations: 100_000)
    // The 100-fix payloads: one call per sample.
    let perBacklog = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .microseconds, maxDuration: .seconds(2),
        maxIterations: 100_000)

    Benchmark("baseline: an empty iteration (what the harness itself counts)") { benchmark in
        for index in benchmark.scaledIterations { blackHole(index) }
    }

    let fix = Fix(
        agent: "a-0042", seq: 1_765_100_000_123, time: "2026-12-07T09:50:12.345Z", lat: 22.314912, lon: 87.310523,
        speed: 6.5, hacc: 3.5, mode: 3)
    let fixBytes = fix.jsonBytes()
    Benchmark("Fix.parse: one …/fix payload (the hub's fast parser)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Fix.parse(fixBytes)) }
    }
    Benchmark("Fix via JSONDecoder: the same bytes (baseline)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try PayloadCoding.decode(Fix.self, from: fixBytes)) }
    }

    let fixes = (0..<100).map { i in
        var next = fix
        next.seq = fix.seq + Int64(i)
        next.lat = fix.lat + Double(i) * 1e-5
        return next
    }
    // As the agent builds it: its stored fix payloads inside the envelope.
    let each = fixes.map { $0.jsonBytes() }
    let backlogBytes = BacklogMessage.payload(agent: "a-0042", fixPayloads: each)
    Benchmark("BacklogMessage.parse: 100 fixes (…/backlog, the hub's fast parser)", configuration: perBacklog) {
        benchmark in
        for _ in benchmark.scaledIterations { blackHole(try BacklogMessage.parse(backlogBytes)) }
    }
    Benchmark("BacklogMessage via JSONDecoder: the same bytes (baseline)", configuration: perBacklog) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try PayloadCoding.decode(BacklogMessage.self, from: backlogBytes))
        }
    }
    Benchmark("Fix.parse × 100: the same fixes one payload each (baseline)", configuration: perBacklog) { benchmark in
        for _ in benchmark.scaledIterations {
            for bytes in each { blackHole(try Fix.parse(bytes)) }
        }
    }

    let ackBytes = PayloadCoding.encode(
        AckMessage(agent: "a-0042", ranges: [1...100, 102...180, 200...200, 1_000...1_099]))
    Benchmark("AckMessage.parse: 4 ranges (the agent's fast parser)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try AckMessage.parse(ackBytes)) }
    }
    Benchmark("AckMessage via JSONDecoder: the same bytes (baseline)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try PayloadCoding.decode(AckMessage.self, from: ackBytes)) }
    }

    let stateBytes = PayloadCoding.encode(AgentState(agent: "a-0042", online: true, gps: "fix", mode: 3))
    Benchmark("JSONValue.parse: a …/state payload") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try JSONValue.parse(stateBytes)) }
    }

    Benchmark("Timestamp.parse: RFC 3339 with milliseconds") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Timestamp.parse("2026-12-07T09:50:12.345Z")) }
    }
}
