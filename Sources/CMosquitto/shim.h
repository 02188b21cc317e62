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

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

/// The network thread's wake-up: an eventfd that publishes from other threads signal, as libmosquitto's internal
/// socket pair does for `mosquitto_loop` (which this client does not use, see `dabba_mosq_loop`).
static inline int dabba_wake_open(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline void dabba_wake_signal(int fd) {
    uint64_t one = 1;
    ssize_t written = write(fd, &one, sizeof one);  /* EAGAIN only when the counter is full: still readable */
    (void)written;
}

/// One turn of the network loop: `mosquitto_loop` with poll() instead of select(). libmosquitto's own loop
/// refuses a socket numbered FD_SETSIZE (1024) or above, which a hub holding thousands of WebSockets gets when it
/// reconnects to the broker. Waits up to `timeout_ms` for the socket (readable, or writable when output is queued)
/// or the wake-up; reads, then writes (also after a wake-up, as `mosquitto_loop` does after its socket pair),
/// then runs the keepalive. Returns a MOSQ_ERR_* code like `mosquitto_loop`.
static inline int dabba_mosq_loop(struct mosquitto *mosq, int wake_fd, int timeout_ms) {
    int sock = mosquitto_socket(mosq);
    if (sock < 0) return MOSQ_ERR_NO_CONN;
    struct pollfd fds[2];
    fds[0].fd = sock;
    fds[0].events = (short)(POLLIN | (mosquitto_want_write(mosq) ? POLLOUT : 0));
    fds[0].revents = 0;
    fds[1].fd = wake_fd;
    fds[1].events = POLLIN;
    fds[1].revents = 0;
    int ready = poll(fds, wake_fd >= 0 ? 2 : 1, timeout_ms);
    if (ready < 0) return errno == EINTR ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ERRNO;
    int write_now = (fds[0].revents & POLLOUT) != 0;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        int rc = mosquitto_loop_read(mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(mosq) < 0) return rc;
    }
    if (wake_fd >= 0 && (fds[1].revents & POLLIN)) {
        uint64_t count;
        ssize_t drained = read(wake_fd, &count, sizeof count);
        (void)drained;
        write_now = 1;
    }
    if (write_now && mosquitto_socket(mosq) >= 0) {
        int rc = mosquitto_loop_write(mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(mosq) < 0) return rc;
    }
    return mosquitto_loop_misc(mosq);
}
#endif
