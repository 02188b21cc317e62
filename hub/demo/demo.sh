#!/usr/bin/env bash
# The Dabba demo: a local mosquitto, dabba-hub on SQLite, two agents each fed by gpsfake replaying a route, and a live
# view of everything on dabba/v1/#. Started by `make demo`; Ctrl-C stops everything.
# CLUSTER=1 (`make demo-cluster`): two hubs in one ingest group on a private PostgreSQL (initdb'd in a temporary
# directory, as the `postgres` user when run as root; removed at the end) behind the same mosquitto.
# Ports: MQTT_PORT (18830), HTTP_PORT (8080; the second hub HTTP_PORT+1), GPSD_PORT (29470, and the next one for the
# second agent), WEBHOOK_PORT (18090: the restaurant's webhook receiver on loopback, which the hub may reach through
# --webhook-allow-hosts 127.0.0.1), PG_PORT (25432, CLUSTER=1 only). SIM_AGENTS (20; 0: none) simulated riders and
# SIM_RATE (4) simulated orders a minute keep the map busy (dabba-sim fleet and day).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:?set BIN to the swift build bin path}
DEMO_DIR=${DEMO_DIR:-$here/../../demo-run}
MQTT_PORT=${MQTT_PORT:-18830}
HTTP_PORT=${HTTP_PORT:-8080}
GPSD_PORT=${GPSD_PORT:-29470}
WEBHOOK_PORT=${WEBHOOK_PORT:-18090}
CLUSTER=${CLUSTER:-0}
PG_PORT=${PG_PORT:-25432}
SIM_AGENTS=${SIM_AGENTS:-20}
SIM_RATE=${SIM_RATE:-4}
ASSETS=$(cd "$here/.." && pwd)

rm -rf "$DEMO_DIR" && mkdir -p "$DEMO_DIR"
pids=()
pg_pid=""
pg_dir=""
cleanup() {
  trap - EXIT INT TERM
  echo; echo "demo: stopping"
  # gpsfake leaves its gpsd behind on SIGTERM: end the children first, then everything; SIGKILL what lingers.
  # PostgreSQL (CLUSTER=1) last, with its fast shutdown (SIGINT), once the hubs have released what they hold.
  others=()
  for pid in "${pids[@]}"; do [ "$pid" = "$pg_pid" ] || others+=("$pid"); done
  for pid in "${others[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  waitfor() {
    for _ in $(seq 1 30); do
      alive=0; for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ $alive = 0 ] && break; sleep 0.1
    done
  }
  waitfor "${others[@]}"
  if [ -n "$pg_pid" ]; then kill -INT "$pg_pid" 2>/dev/null || true; waitfor "$pg_pid"; fi
  for pid in "${pids[@]}"; do pkill -KILL -P "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$pg_dir" ]; then rm -rf "$pg_dir"; fi
}
trap cleanup EXIT INT TERM

cat > "$DEMO_DIR/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
CONF
/usr/sbin/mosquitto -c "$DEMO_DIR/mosquitto.conf" 2>"$DEMO_DIR/mosquitto.log" & pids+=($!)

database="sqlite:$DEMO_DIR/hub.db"
cluster=()
if [ "$CLUSTER" = 1 ]; then
  # A private PostgreSQL: initdb and postgres refuse to run as root, so as root they run as Debian's `postgres` user.
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg_dir=$(mktemp -d /tmp/dabba-demo-pg.XXXXXX)
  as_pg=()
  openssl rand -hex 16 > "$pg_dir/password"
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$pg_dir"
    as_pg=(setpriv --reuid=postgres --regid=postgres --clear-groups --)
  fi
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U dabba --auth=scram-sha-256 --pwfile="$pg_dir/password" -E UTF8 \
    --locale=C --no-instructions >"$DEMO_DIR/initdb.log" 2>&1
  # In a session of its own, so Ctrl-C reaches it only through cleanup, after the hubs have stopped.
  setsid "${as_pg[@]}" "$pg_bin/postgres" -D "$pg_dir/data" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories= 2>"$DEMO_DIR/postgres.log" & pg_pid=$!; pids+=($pg_pid)
  for _ in $(seq 1 100); do "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.1; done
  PGPASSWORD=$(cat "$pg_dir/password") psql -q -h 127.0.0.1 -p "$PG_PORT" -U dabba -d postgres -c "CREATE DATABASE dabba"
  database="postgres://dabba:$(cat "$pg_dir/password")@127.0.0.1:$PG_PORT/dabba?sslmode=disable"
  # Every hub of a cluster sets the same ingest group: ingest is split, the fleet relayed, dispatch leased.
  cluster=("--ingest-group" "demo")
fi

# The hub: its database, an operator to sign in with, and the two agents (with broker credentials it would use in
# production; this demo broker is anonymous).
hub=("--config" "/dev/null" "--database" "$database" "--mqtt-port" "$MQTT_PORT" "--http-port" "$HTTP_PORT"
     "--assets" "$ASSETS" "--mosquitto-password-file" "$DEMO_DIR/mosquitto.passwd" "--mosquitto-acl-file" "$DEMO_DIR/mosquitto.acl"
     "--webhook-allow-hosts" "127.0.0.1"
     "--payment-provider" "test")  # the built-in test provider: demos only (no default; production sets a real one)
"$BIN/dabba-hub" migrate "${hub[@]}" >/dev/null
echo "demo-password" > "$DEMO_DIR/operator.password"
"$BIN/dabba-hub" users add "${hub[@]}" --role operator --email operator@dabba.demo --password-file "$DEMO_DIR/operator.password" >/dev/null
for agent in a-17 a-18; do
  "$BIN/dabba-hub" agents provision "$agent" "${hub[@]}" --password-out "$DEMO_DIR/$agent.password" >/dev/null 2>&1
done
# The simulated riders of `dabba-sim fleet` (SIM_AGENTS of them, sim-01…): agents like any other to the hub.
mkdir -p "$DEMO_DIR/sim-passwords"
for n in $(seq 1 "$SIM_AGENTS"); do
  id=$(printf 'sim-%02d' "$n")
  "$BIN/dabba-hub" agents provision "$id" "${hub[@]}" --password-out "$DEMO_DIR/sim-passwords/$id" >/dev/null 2>&1
done
"$BIN/dabba-hub" serve "${hub[@]}" "${cluster[@]}" 2>"$DEMO_DIR/hub.log" & pids+=($!)
if [ "$CLUSTER" = 1 ]; then
  "$BIN/dabba-hub" serve "${hub[@]}" "${cluster[@]}" --http-port $((HTTP_PORT + 1)) 2>"$DEMO_DIR/hub-2.log" & pids+=($!)
fi
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
  # TMPDIR: gpsfake's control socket goes into the demo's directory.
  TMPDIR="$DEMO_DIR" gpsfake -1 -q -P "$port" -c 0.5 -W 5 "${routes[$i]}" >"$DEMO_DIR/gpsfake-$agent.log" 2>&1 &
  pids+=($!)
  # gpsfake's own add of its receiver can be lost to gpsd's start-up (see the script): made sure of here.
  /usr/bin/python3 "$here/gpsfake-ensure.py" "$port" "$!" "$DEMO_DIR" 30 || true
  "$BIN/dabba-agent" run --config /dev/null --agent-id "$agent" --mqtt-port "$MQTT_PORT" --gpsd-port "$port" \
    --outbox "$DEMO_DIR/$agent.db" --control-socket "$DEMO_DIR/$agent.sock" --state-interval 5 \
    2>"$DEMO_DIR/$agent.log" & pids+=($!)
  i=$((i + 1))
done
for _ in $(seq 1 100); do ss -ltn | grep -q ":$HTTP_PORT " && break; sleep 0.1; done
# A restaurant, a customer and an order dispatched to a-17's device and tracked live (prints the tracking link;
# plays pickup and delivery from the device later).
WEBHOOK_PORT=$WEBHOOK_PORT AGENT_SOCKET="$DEMO_DIR/a-17.sock" ACCEPTED_FILE="$DEMO_DIR/demo-order.accepted" \
  "$here/demo-order.sh" "$HTTP_PORT" "$BIN" "${hub[@]}" &
pids+=($!)
# Once a-17 has its order: SIM_AGENTS simulated riders around the restaurant (dabba-sim fleet) and simulated
# customers ordering SIM_RATE times a minute with the operator playing the kitchen (dabba-sim day), so the map stays
# busy. Their output: $DEMO_DIR/sim-fleet.log and sim-day.log.
if [ "$SIM_AGENTS" -gt 0 ]; then
  (
    # The simulators end with this subshell, however it ends.
    trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
    trap 'exit 143' TERM INT
    for _ in $(seq 1 180); do [ -e "$DEMO_DIR/demo-order.accepted" ] && break; sleep 0.5; done
    "$BIN/dabba-sim" fleet --agents "$SIM_AGENTS" --mqtt-port "$MQTT_PORT" --center-lat 22.3161 --center-lon 87.3170 \
      --spread 1500 >"$DEMO_DIR/sim-fleet.log" 2>&1 &
    "$BIN/dabba-sim" day --hub "http://127.0.0.1:$HTTP_PORT" --operator-email operator@dabba.demo \
      --operator-password-file "$DEMO_DIR/operator.password" --rate "$SIM_RATE" --duration 86400 --settle 0 \
      --radius 1500 >"$DEMO_DIR/sim-day.log" 2>&1 &
    wait
  ) & pids+=($!)
fi
sleep 2

cat <<INFO
Dabba demo running (logs and databases in $DEMO_DIR):
  broker        mqtt://127.0.0.1:$MQTT_PORT
  hub           http://127.0.0.1:$HTTP_PORT/health   /metrics   /openapi.yaml
INFO
if [ "$CLUSTER" = 1 ]; then cat <<INFO
  second hub    http://127.0.0.1:$((HTTP_PORT + 1))/   same fleet, same orders (ingest split between the hubs, positions
                relayed; dabba_dispatch_lease_held in /metrics says which hub dispatches; kill one and watch)
  PostgreSQL    127.0.0.1:$PG_PORT, database dabba (logs: $DEMO_DIR/postgres.log)
INFO
fi
cat <<INFO
  dashboard     http://127.0.0.1:$HTTP_PORT/   (operator@dabba.demo / demo-password)
  operator      operator@dabba.demo / demo-password:
                TOKEN=\$(curl -s -XPOST 127.0.0.1:$HTTP_PORT/v1/auth/login -H 'content-type: application/json' \\
                  -d '{"email":"operator@dabba.demo","password":"demo-password"}' | sed 's/.*"accessToken":"\\([^"]*\\)".*/\\1/')
                curl -s -H "Authorization: Bearer \$TOKEN" 127.0.0.1:$HTTP_PORT/v1/fleet
                curl -s -H "Authorization: Bearer \$TOKEN" "127.0.0.1:$HTTP_PORT/v1/agents/a-17/positions?limit=5"
                live feed: ws://127.0.0.1:$HTTP_PORT/v1/fleet/live (Bearer token, or ?ticket= from POST /v1/ws-tickets)
  agents        a-17, a-18   status: $BIN/dabba-agent status --control-socket $DEMO_DIR/a-17.sock
  simulation    $SIM_AGENTS simulated riders (sim-01…, dabba-sim fleet) and $SIM_RATE simulated orders a minute
                (dabba-sim day) keep the map busy once a-17 has its order: $DEMO_DIR/sim-fleet.log, sim-day.log
  webhooks      the restaurant's order events, as its receiver on 127.0.0.1:$WEBHOOK_PORT got them: $DEMO_DIR/webhooks.log
  live view     everything on dabba/v1/# follows (Ctrl-C stops the demo)
INFO
mosquitto_sub -p "$MQTT_PORT" -v -t 'dabba/v1/#' & pids+=($!)
wait "${pids[-1]}"
