#!/usr/bin/env bash
# The Dabba demo: a local mosquitto, dabba-hub on SQLite, two agents each fed by gpsfake replaying a route, and a live
# view of everything on dabba/v1/#. Started by `make demo`; Ctrl-C stops everything.
# Ports: MQTT_PORT (18830), HTTP_PORT (8080), GPSD_PORT (29470, and the next one for the second agent),
# WEBHOOK_PORT (18090: the restaurant's webhook receiver on loopback, which the hub may reach through
# --webhook-allow-hosts 127.0.0.1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:?set BIN to the swift build bin path}
DEMO_DIR=${DEMO_DIR:-$here/../../demo-run}
MQTT_PORT=${MQTT_PORT:-18830}
HTTP_PORT=${HTTP_PORT:-8080}
GPSD_PORT=${GPSD_PORT:-29470}
WEBHOOK_PORT=${WEBHOOK_PORT:-18090}
ASSETS=$(cd "$here/.." && pwd)

rm -rf "$DEMO_DIR" && mkdir -p "$DEMO_DIR"
pids=()
cleanup() {
  trap - EXIT INT TERM
  echo; echo "demo: stopping"
  # gpsfake leaves its gpsd behind on SIGTERM: end the children first, then everything; SIGKILL what lingers.
  for pid in "${pids[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    alive=0; for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 0.1
  done
  for pid in "${pids[@]}"; do pkill -KILL -P "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

cat > "$DEMO_DIR/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
CONF
/usr/sbin/mosquitto -c "$DEMO_DIR/mosquitto.conf" 2>"$DEMO_DIR/mosquitto.log" & pids+=($!)

# The hub: its database, an operator to sign in with, and the two agents (with broker credentials it would use in
# production; this demo broker is anonymous).
hub=("--config" "/dev/null" "--database" "sqlite:$DEMO_DIR/hub.db" "--mqtt-port" "$MQTT_PORT" "--http-port" "$HTTP_PORT"
     "--assets" "$ASSETS" "--mosquitto-password-file" "$DEMO_DIR/mosquitto.passwd" "--mosquitto-acl-file" "$DEMO_DIR/mosquitto.acl"
     "--webhook-allow-hosts" "127.0.0.1"
     "--payment-provider" "test")  # the built-in test provider: demos only (no default; production sets a real one)
"$BIN/dabba-hub" migrate "${hub[@]}" >/dev/null
echo "demo-password" > "$DEMO_DIR/operator.password"
"$BIN/dabba-hub" users add "${hub[@]}" --role operator --email operator@dabba.demo --password-file "$DEMO_DIR/operator.password" >/dev/null
for agent in a-17 a-18; do
  "$BIN/dabba-hub" agents provision "$agent" "${hub[@]}" --password-out "$DEMO_DIR/$agent.password" >/dev/null 2>&1
done
"$BIN/dabba-hub" serve "${hub[@]}" 2>"$DEMO_DIR/hub.log" & pids+=($!)
/usr/bin/python3 "$here/webhook-receiver.py" "$WEBHOOK_PORT" >"$DEMO_DIR/webhooks.log" 2>&1 & pids+=($!)

# Two agents: the drive recorded in hub/demo/ (moved in time so that it happens now: dispatch considers only agents
# with a recent fix, and the dashboard would show a recorded fix as days old), and a route generated with a seed.
"$BIN/dabba-sim" redate "$here/route-kharagpur.nmea" --start now --output "$DEMO_DIR/route-1.nmea"
"$BIN/dabba-sim" route --count 1800 --seed 2 --start now --output "$DEMO_DIR/route-2.nmea"
routes=("$DEMO_DIR/route-1.nmea" "$DEMO_DIR/route-2.nmea")
i=0
for agent in a-17 a-18; do
  port=$((GPSD_PORT + i))
  # -c 0.5: two sentences per epoch, so real time at 1 Hz. gpsfake exits when the route ends.
  gpsfake -1 -q -P "$port" -c 0.5 -W 5 "${routes[$i]}" >"$DEMO_DIR/gpsfake-$agent.log" 2>&1 & pids+=($!)
  "$BIN/dabba-agent" run --config /dev/null --agent-id "$agent" --mqtt-port "$MQTT_PORT" --gpsd-port "$port" \
    --outbox "$DEMO_DIR/$agent.db" --control-socket "$DEMO_DIR/$agent.sock" --state-interval 5 \
    2>"$DEMO_DIR/$agent.log" & pids+=($!)
  i=$((i + 1))
done
for _ in $(seq 1 100); do ss -ltn | grep -q ":$HTTP_PORT " && break; sleep 0.1; done
# A restaurant, a customer and an order tracked live (prints the tracking link; plays pickup and delivery later).
WEBHOOK_PORT=$WEBHOOK_PORT "$here/demo-order.sh" "$HTTP_PORT" "$BIN" "${hub[@]}" & pids+=($!)
sleep 2

cat <<INFO
Dabba demo running (logs and databases in $DEMO_DIR):
  broker        mqtt://127.0.0.1:$MQTT_PORT
  hub           http://127.0.0.1:$HTTP_PORT/health   /metrics   /openapi.yaml
  dashboard     http://127.0.0.1:$HTTP_PORT/   (operator@dabba.demo / demo-password)
  operator      operator@dabba.demo / demo-password:
                TOKEN=\$(curl -s -XPOST 127.0.0.1:$HTTP_PORT/v1/auth/login -H 'content-type: application/json' \\
                  -d '{"email":"operator@dabba.demo","password":"demo-password"}' | sed 's/.*"accessToken":"\\([^"]*\\)".*/\\1/')
                curl -s -H "Authorization: Bearer \$TOKEN" 127.0.0.1:$HTTP_PORT/v1/fleet
                curl -s -H "Authorization: Bearer \$TOKEN" "127.0.0.1:$HTTP_PORT/v1/agents/a-17/positions?limit=5"
                live feed: ws://127.0.0.1:$HTTP_PORT/v1/fleet/live (Bearer token, or ?ticket= from POST /v1/ws-tickets)
  agents        a-17, a-18   status: $BIN/dabba-agent status --control-socket $DEMO_DIR/a-17.sock
  webhooks      the restaurant's order events, as its receiver on 127.0.0.1:$WEBHOOK_PORT got them: $DEMO_DIR/webhooks.log
  live view     everything on dabba/v1/# follows (Ctrl-C stops the demo)
INFO
mosquitto_sub -p "$MQTT_PORT" -v -t 'dabba/v1/#' & pids+=($!)
wait "${pids[-1]}"
