#!/bin/sh
# Runs "$@" in a private network namespace (root only): its own loopback, up, with the whole port range
# (1024-65535) for outgoing connections. 50,000 customers' WebSockets to one hub address need more than the 28,232
# ephemeral ports a default loopback offers (32768-60999). Nothing outside the namespace is touched, and every
# process the command starts (mosquitto, dabba-hub) shares it. `make bench BENCH_NETNS=1` uses it.
set -eu
[ "$(id -u)" = 0 ] || { echo "in-netns.sh: needs root (unshare --net)" >&2; exit 2; }
exec unshare --net sh -c '
  ip link set lo up
  echo "1024 65535" > /proc/sys/net/ipv4/ip_local_port_range
  exec "$@"' in-netns "$@"
