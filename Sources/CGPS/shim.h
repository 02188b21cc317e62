#ifndef DABBA_CGPS_SHIM_H
#define DABBA_CGPS_SHIM_H
#include <gps.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timex.h>

/* Every access to a libgps struct field or macro goes through these accessors, so the Swift side never depends on
 * the layout of `struct gps_data_t` or on macros Swift cannot import. */

#if GPSD_API_MAJOR_VERSION < 9
#error "dabba needs gpsd client API 9 or newer (Debian 12 ships 11)"
#endif

/// True when the kernel says the system clock is synchronised (NTP, systemd-timesyncd, chrony): `adjtimex` does
/// not report TIME_ERROR and STA_UNSYNC is clear. Read-only (modes 0), so no privilege is needed.
static inline bool dabba_clock_synchronised(void) {
    struct timex t;
    memset(&t, 0, sizeof t);
    int state = adjtimex(&t);
    return state != -1 && state != TIME_ERROR && (t.status & STA_UNSYNC) == 0;
}

/// The API major version this module was built against.
static inline int dabba_gps_api_major(void) { return GPSD_API_MAJOR_VERSION; }

/// The largest line libgps buffers (measured with 3.22: 20,480 bytes including the newline); a message buffer of
/// this size + 1 receives every line gps_read can return, untruncated.
static inline int dabba_gps_line_max(void) { return 20480; }

/// `struct gps_data_t` is ~24 KB: allocate it zeroed on the heap, once.
static inline struct gps_data_t *dabba_gps_alloc(void) { return calloc(1, sizeof(struct gps_data_t)); }
static inline void dabba_gps_free(struct gps_data_t *g) { free(g); }

/// `gps_open`; on failure returns the libgps error code (negative netlib code or errno) instead of -1.
static inline int dabba_gps_open(const char *host, const char *port, struct gps_data_t *g) {
    errno = 0;
    if (gps_open(host, port, g) == 0) return 0;
    return errno != 0 ? errno : -1;
}

/// A readable message for a `dabba_gps_open` code.
static inline const char *dabba_gps_errstr(int code) { return gps_errstr(code); }

/// `?WATCH={"enable":true,"json":true}`.
static inline int dabba_gps_watch(struct gps_data_t *g) { return gps_stream(g, WATCH_ENABLE | WATCH_JSON, NULL); }

/// `?WATCH={"enable":false}`.
static inline int dabba_gps_unwatch(struct gps_data_t *g) { return gps_stream(g, WATCH_DISABLE, NULL); }

/// The socket of an open connection.
static inline int dabba_gps_fd(const struct gps_data_t *g) { return (int)g->gps_fd; }

/// Makes the connection's socket non-blocking, so gps_read never blocks on a partial line (it returns 0 on EAGAIN).
static inline int dabba_gps_set_nonblocking(struct gps_data_t *g) {
    int flags = fcntl(g->gps_fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(g->gps_fd, F_SETFL, flags | O_NONBLOCK);
}

/// 1 when the peer has closed the connection (EOF pending), 0 when data or nothing is pending, -errno on error.
static inline int dabba_gps_peer_closed(const struct gps_data_t *g) {
    char byte;
    ssize_t n = recv(g->gps_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return 1;
    if (n > 0) return 0;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
}

/// Reads one line: > 0 a line was consumed (copied into `line`), 0 no complete line yet, -1 EOF / error / over-long
/// line. Clears `set` first so the flags describe only this line.
static inline int dabba_gps_read_line(struct gps_data_t *g, char *line, int line_len) {
    g->set = 0;
    errno = 0;
    line[0] = '\0';
#if GPSD_API_MAJOR_VERSION >= 7
    return gps_read(g, line, line_len);
#else
    return gps_read(g);
#endif
}

/* `set` flags of the line just read. */
static inline bool dabba_gps_time_set(const struct gps_data_t *g) { return (g->set & TIME_SET) != 0; }
static inline bool dabba_gps_mode_set(const struct gps_data_t *g) { return (g->set & MODE_SET) != 0; }
static inline bool dabba_gps_latlon_set(const struct gps_data_t *g) { return (g->set & LATLON_SET) != 0; }
static inline bool dabba_gps_version_set(const struct gps_data_t *g) { return (g->set & VERSION_SET) != 0; }

/* The fix of the last TPV (gpsd resets each field to NaN / 0 when a TPV omits it). */
static inline int64_t dabba_gps_fix_time_ms(const struct gps_data_t *g) {
    return (int64_t)g->fix.time.tv_sec * 1000 + (int64_t)(g->fix.time.tv_nsec / 1000000);
}
static inline int dabba_gps_fix_mode(const struct gps_data_t *g) { return g->fix.mode; }
static inline double dabba_gps_fix_latitude(const struct gps_data_t *g) { return g->fix.latitude; }
static inline double dabba_gps_fix_longitude(const struct gps_data_t *g) { return g->fix.longitude; }
static inline double dabba_gps_fix_alt_msl(const struct gps_data_t *g) { return g->fix.altMSL; }
static inline double dabba_gps_fix_alt_hae(const struct gps_data_t *g) { return g->fix.altHAE; }
static inline double dabba_gps_fix_speed(const struct gps_data_t *g) { return g->fix.speed; }
static inline double dabba_gps_fix_track(const struct gps_data_t *g) { return g->fix.track; }
static inline double dabba_gps_fix_eph(const struct gps_data_t *g) { return g->fix.eph; }

/// The message of a gpsd ERROR response (valid when `dabba_gps_error_set`).
static inline bool dabba_gps_error_set(const struct gps_data_t *g) { return (g->set & ERROR_SET) != 0; }
static inline const char *dabba_gps_error_message(const struct gps_data_t *g) { return g->error; }

/// gpsd's release string from the VERSION banner (valid when `dabba_gps_version_set`).
static inline const char *dabba_gps_release(const struct gps_data_t *g) { return g->version.release; }
#endif
