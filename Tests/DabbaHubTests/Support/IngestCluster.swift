import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Logging
import HubPostgres

/// What the ingest failure tests share: a fresh database on `server` holding agent `a-1` (and the test's own store
/// on it), one mosquitto, `hubs` real hubs in one ingest group, and the device's subscription to its acks.
struct IngestCluster {
    let store: PostgresHubStore
    let directory: TestDirectory
    let broker: MosquittoBroker
    let cluster: HubCluster
    let device: TestSubscriber

    static func start(on server: PostgresServer, hubs: Int, label: String) async throws -> IngestCluster {
        let database = server.url(database: try await server.createDatabase()) + "?sslmode=disable"
        var logger = Logger(label: label)
        logger.logLevel = .critical
        let store = try await PostgresHubStore.open(try PostgresStoreConfiguration(url: database), logger: logger)
        let directory = try TestDirectory(label)
        var broker: MosquittoBroker?
        var cluster: HubCluster?
        do {
            _ = try await store.createAgent(id: "a-1", name: nil)
            broker = try await MosquittoBroker.started(directory: directory)
            cluster = try await HubCluster.start(
                count: hubs, database: database, mqttPort: broker!.port, directory: directory)
            let device = try await TestSubscriber.start(port: broker!.port, filter: Topics.ack(agent: "a-1"))
            return IngestCluster(store: store, directory: directory, broker: broker!, cluster: cluster!, device: device)
        } catch {
            cluster?.stop()
            broker?.stop()
            store.close()
            directory.remove()
            throw error
        }
    }

    /// Every seq the device has been acked so far.
    var acked: Set<Int64> { IngestHarness.ackedSeqs("a-1", in: device.messages) }

    func stop() {
        device.client.shutdown()
        cluster.stop()
        broker.stop()
        store.close()
        directory.remove()
    }
}
