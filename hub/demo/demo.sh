#!/usr/bin/env bash
# The Dabba demo: a local mosquitto, gpsfake replaying the route shipped in hub/demo/, dabba-agent publishing it,
# an acker standing in for the hub's ack loop, and a live view of everything on dabba/v1/#.
# Started by `make demo`; Ctrl-C stops everything. Ports can be changed with MQTT_PORT / GPSD_PORT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:?set BIN to the swift build bin path}
DEMO_DIR=${DEMO_DIR:-$here/../../demo-run}
MQTT_PORT=${MQTT_PORT:-18830}
GPSD_PORT=${GPSD_PORT:-29470}
ROUTE=${ROUTE:-$here/route-kharagpur.nmea}
AGENT_ID=${AGENT_ID:-a-17}

mkdir -p "$DEMO_DIR"
pids=()
cleanup() {
  trap - EXIT INT TERM
  echo; echo "demo: stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

cat > "$DEMO_DIR/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
CONF
/usr/sbin/mosquitto -c "$DEMO_DIR/mosquitto.conf" 2>"$DEMO_DIR/mosquitto.log" & pids+=($!)

# -c 0.5: two sentences per epoch, so real time at 1 Hz. gpsfake exits when the route ends.
gpsfake -1 -q -P "$GPSD_PORT" -c 0.5 -W 5 "$ROUTE" >"$DEMO_DIR/gpsfake.log" 2>&1 & pids+=($!)
for _ in $(seq 1 50); do ss -ltn | grep -q ":$MQTT_PORT " && ss -ltn | grep -q ":$GPSD_PORT " && break; sleep 0.1; done

"$BIN/dabba-sim" acker --mqtt-port "$MQTT_PORT" 2>"$DEMO_DIR/acker.log" & pids+=($!)
"$BIN/dabba-agent" run --agent-id "$AGENT_ID" --mqtt-port "$MQTT_PORT" --gpsd-port "$GPSD_PORT" \
  --outbox "$DEMO_DIR/outbox.db" --control-socket "$DEMO_DIR/control.sock" --state-interval 5 \
  --config /dev/null 2>"$DEMO_DIR/agent.log" & pids+=($!)

cat <<INFO
Dabba demo running (logs in $DEMO_DIR):
  broker      mqtt://127.0.0.1:$MQTT_PORT
  gpsd        127.0.0.1:$GPSD_PORT replaying $(basename "$ROUTE")
  agent       $AGENT_ID   status: $BIN/dabba-agent status --control-socket $DEMO_DIR/control.sock
  live view   everything on dabba/v1/# follows (Ctrl-C stops the demo)
INFO
mosquitto_sub -p "$MQTT_PORT" -v -t 'dabba/v1/#' & pids+=($!)
wait "${pids[-1]}"
