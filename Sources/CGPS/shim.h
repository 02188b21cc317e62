#ifndef DABBA_CGPS_SHIM_H
#define DABBA_CGPS_SHIM_H
#include <gps.h>
#include <stdlib.h>
#include <string.h>

#if GPSD_API_MAJOR_VERSION < 9
#error "dabba needs gpsd client API 9 or newer (Debian 12 ships 11)"
#endif

/// The API major version this module was built against.
static inline int dabba_gps_api_major(void) { return GPSD_API_MAJOR_VERSION; }
#endif
