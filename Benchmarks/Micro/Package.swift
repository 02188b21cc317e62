// swift-tools-version: 6.2
// Micro-benchmarks with package-benchmark (ordo-one/benchmark): the device protocol's decoders and the dispatch
// algorithms, timed with allocation counts. A package of its own, so the main package (and CI) do not build the
// benchmark framework; it uses the main package's libraries by path. Run with `make bench BENCH_ONLY=micro`, or here:
// `swift package --disable-sandbox benchmark`.
import PackageDescription

let package = Package(
    name: "dabba-micro-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "dabba", path: "../.."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ProtocolDecoders",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "DabbaProtocol", package: "dabba"),
            ],
            path: "Benchmarks/ProtocolDecoders",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "DispatchAlgorithms",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "DabbaCore", package: "dabba"),
                .product(name: "DabbaDispatch", package: "dabba"),
                .product(name: "DispatchInstances", package: "dabba"),
            ],
            path: "Benchmarks/DispatchAlgorithms",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
