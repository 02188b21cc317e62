import DabbaTestSupport

/// A ``HubHarness`` on a real mosquitto (fixes committed within 10 ms) with an MQTT client to publish as devices do:
/// what the live pages' tests share. `harness.run(.live)` serves it over loopback HTTP.
struct BrokeredHub {
    let directory: TestDirectory
    let broker: MosquittoBroker
    let harness: HubHarness
    let publisher: TestSubscriber

    /// Starts the broker, the harness (with `overrides`) and the publisher in a new test directory named `name`.
    static func start(_ name: String, _ overrides: [String: String] = [:]) async throws -> BrokeredHub {
        let directory = try TestDirectory(name)
        let broker = try await MosquittoBroker.started(directory: directory)
        do {
            let harness = try HubHarness(
                ["mqtt-port": "\(broker.port)", "commit-interval-ms": "10"].merging(overrides) { $1 },
                directory: directory)
            do {
                let publisher = try await TestSubscriber.start(port: broker.port, filter: "unused/#")
                return BrokeredHub(directory: directory, broker: broker, harness: harness, publisher: publisher)
            } catch {
                harness.close()
                throw error
            }
        } catch {
            broker.stop()
            throw error
        }
    }

    func stop() {
        publisher.client.shutdown()
        broker.stop()
        harness.close()
    }
}
