// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "dabba",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dabba-agent", targets: ["dabba-agent"]),
        .executable(name: "dabba-sim", targets: ["dabba-sim"]),
        .executable(name: "dabba-hub", targets: ["dabba-hub"]),
        .executable(name: "dabba-bench-agent", targets: ["AgentBench"]),
        .executable(name: "dabba-bench-hub", targets: ["HubBench"]),
        .executable(name: "dabba-bench-dispatch", targets: ["DispatchBench"]),
        .library(name: "DabbaDispatch", targets: ["DabbaDispatch"]),
        // For the package-benchmark micro-benchmarks (Benchmarks/Micro, a package of its own).
        .library(name: "DabbaProtocol", targets: ["DabbaProtocol"]),
        .library(name: "DabbaCore", targets: ["DabbaCore"]),
        .library(name: "DispatchInstances", targets: ["DispatchInstances"]),
        .library(name: "DabbaMQTT", targets: ["DabbaMQTT"]),
        .library(name: "DabbaSQLite", targets: ["DabbaSQLite"]),
        // Linked by `make fuzz` into the libFuzzer driver (Tests/Fuzz/LibFuzzerEntry.swift).
        .library(name: "DabbaFuzz", type: .static, targets: ["DabbaFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // C libraries, each through a systemLibrary module with a small static-inline shim.
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CGPS", pkgConfig: "libgps", providers: [.apt(["libgps-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // Shared foundations.
        .target(
            name: "DabbaCore",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "DabbaProtocol"),
        // Fuzz targets over the decoders of untrusted bytes, and their driver (`make fuzz`; README, Fuzzing).
        // Depends on the hub's feature module (not its store or server) for the hub's own readers.
        .target(
            name: "DabbaFuzz",
            dependencies: [
                "DabbaProtocol", "DabbaCore", "HubModel", "DabbaHub",
                .product(name: "HummingbirdCore", package: "hummingbird"),
            ]
        ),
        // Dispatch algorithms: which agent gets which order (pure Swift, no dependencies).
        .target(name: "DabbaDispatch"),
        .target(name: "DabbaSQLite", dependencies: ["CSQLite"]),
        .target(
            name: "DabbaMQTT",
            dependencies: [
                "CMosquitto", "DabbaCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "DabbaGPS",
            dependencies: [
                "CGPS", "DabbaCore", "DabbaProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // The device daemon and its CLI.
        .target(
            name: "DabbaAgent",
            dependencies: [
                "DabbaCore", "DabbaProtocol", "DabbaSQLite", "DabbaMQTT", "DabbaGPS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "dabba-agent",
            dependencies: ["DabbaAgent", "DabbaCore"]
        ),

        // The hub, in four modules whose dependencies are its import rules (README, Layout): the model never imports
        // Hummingbird, MQTT or a database; a storage backend imports only the model; the features never import a
        // backend; the server composes them.
        // HubModel: records, state machines, pure rules, repository protocols, StoreError.
        .target(name: "HubModel", dependencies: ["DabbaCore", "DabbaProtocol", "DabbaDispatch"]),
        // HubSQLite: the SQLite store and its migrations.
        .target(
            name: "HubSQLite",
            dependencies: [
                "HubModel", "DabbaCore", "DabbaProtocol", "DabbaSQLite",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // HubPostgres: the PostgreSQL store and its migrations (issue 16), over PostgresNIO's connection pool.
        .target(
            name: "HubPostgres",
            dependencies: [
                "HubModel", "DabbaCore", "DabbaProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // DabbaHub: the features (ingest, auth, orders, payments, market, dispatch, webhooks, live feeds) over the
        // repository protocols, and the HTTP layer.
        .target(
            name: "DabbaHub",
            dependencies: [
                "HubModel", "DabbaCore", "DabbaProtocol", "DabbaMQTT", "DabbaDispatch",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // HubStoreTesting: the storage contract every backend's tests run (HubStoreContract).
        .target(name: "HubStoreTesting", dependencies: ["HubModel", "DabbaCore", "DabbaProtocol"]),
        // DabbaHubServer: the composition root (commands, the backend the `database` URL names, buildApplication);
        // with HubPostgres's tests, the only importer of HubPostgres.
        .target(
            name: "DabbaHubServer",
            dependencies: [
                "DabbaHub", "HubModel", "HubSQLite", "HubPostgres", "DabbaCore", "DabbaProtocol", "DabbaMQTT",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(name: "dabba-hub", dependencies: ["DabbaHubServer", "DabbaCore"]),

        // Simulator: NMEA routes for gpsfake, a contract-following acker for demos and tests.
        .target(
            name: "DabbaSim",
            dependencies: [
                "DabbaCore", "DabbaProtocol", "DabbaMQTT", "DabbaDispatch",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "dabba-sim",
            dependencies: ["DabbaSim", "DabbaCore"]
        ),

        // Benchmarks: print figures and ratios against a baseline measured in the same run.
        .executableTarget(
            name: "AgentBench",
            dependencies: ["DabbaAgent", "DabbaMQTT", "DabbaSim", "DabbaTestSupport", "CMosquitto"],
            path: "Benchmarks/AgentBench"
        ),
        .executableTarget(
            name: "HubBench",
            dependencies: [
                "DabbaHub", "DabbaHubServer", "HubModel", "HubSQLite", "HubPostgres", "DabbaCore", "DabbaProtocol",
                "DabbaTestSupport", "DabbaDispatch", "DabbaMQTT", "DabbaSim", "CMosquitto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/HubBench"
        ),
        .target(
            name: "DispatchInstances", dependencies: ["DabbaCore", "DabbaDispatch"],
            path: "Benchmarks/DispatchInstances"),
        .executableTarget(
            name: "DispatchBench",
            dependencies: [
                "DabbaCore", "DabbaDispatch", "DabbaTestSupport", "DispatchInstances",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/DispatchBench"),

        // Test helpers: real mosquitto / gpsfake processes on loopback ports chosen by the test.
        .target(
            name: "DabbaTestSupport",
            dependencies: ["DabbaCore", "DabbaMQTT", "DabbaSim", .product(name: "Logging", package: "swift-log")]
        ),

        .testTarget(name: "DabbaCoreTests", dependencies: ["DabbaCore", "DabbaTestSupport"]),
        .testTarget(name: "DabbaProtocolTests", dependencies: ["DabbaProtocol", "DabbaFuzz"]),
        .testTarget(name: "DabbaSQLiteTests", dependencies: ["DabbaSQLite"]),
        .testTarget(
            name: "DabbaDispatchTests",
            dependencies: [
                "DabbaCore", "DabbaDispatch", "DabbaSim", "DabbaTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "DabbaMQTTTests", dependencies: ["DabbaMQTT", "DabbaTestSupport"]),
        .testTarget(name: "DabbaGPSTests", dependencies: ["DabbaGPS", "DabbaSim", "DabbaTestSupport"]),
        .testTarget(name: "HubModelTests", dependencies: ["HubModel"]),
        .testTarget(
            name: "HubSQLiteTests",
            dependencies: [
                "HubSQLite", "HubModel", "HubStoreTesting", "DabbaTestSupport", "DabbaSQLite",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "HubPostgresTests",
            dependencies: [
                "HubPostgres", "HubModel", "HubStoreTesting", "DabbaTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "DabbaHubTests",
            dependencies: [
                "DabbaHub", "HubModel", "HubSQLite", "HubPostgres", "DabbaHubServer", "DabbaSim", "DabbaSQLite",
                "DabbaTestSupport",
                "dabba-hub", "dabba-agent",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "DabbaAgentTests",
            dependencies: ["DabbaAgent", "DabbaSim", "DabbaTestSupport", "dabba-agent"]
        ),
    ]
)
