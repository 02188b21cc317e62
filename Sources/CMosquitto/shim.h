#ifndef DABBA_CMOSQUITTO_SHIM_H
#define DABBA_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>

/// Field accessors for `struct mosquitto_message`: Swift code never touches C structs directly.
static inline const char *dabba_mosq_msg_topic(const struct mosquitto_message *m) { return m->topic; }
static inline const void *dabba_mosq_msg_payload(const struct mosquitto_message *m) { return m->payload; }
static inline int dabba_mosq_msg_payloadlen(const struct mosquitto_message *m) { return m->payloadlen; }
static inline int dabba_mosq_msg_qos(const struct mosquitto_message *m) { return m->qos; }
static inline int dabba_mosq_msg_retain(const struct mosquitto_message *m) { return m->retain ? 1 : 0; }
#endif
