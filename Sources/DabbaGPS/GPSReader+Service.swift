import ServiceLifecycle

/// A ``GPSReader`` runs in the agent's `ServiceGroup`: `run()` returns on graceful shutdown (SIGTERM) as well as
/// on cancellation, after `?WATCH={"enable":false}` and `gps_close`.
extension GPSReader: Service {}
