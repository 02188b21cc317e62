import ServiceLifecycle

/// An ``MQTTClient`` is a swift-service-lifecycle `Service`: add it to the `ServiceGroup` before the services that
/// publish through it, so graceful shutdown stops them first and the client last (with a clean DISCONNECT).
/// ``MQTTClient/run()`` returns on graceful shutdown as well as on cancellation.
extension MQTTClient: Service {}
