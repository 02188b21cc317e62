import Testing

/// Every DabbaMQTT test, against real mosquitto brokers started by the tests on free loopback ports.
/// One serialized suite (tests live in extensions, one file per topic) so timing assertions never compete.
@Suite(.serialized) struct MQTTTests {}
