#!/usr/bin/env bash
# Contract fuzzing of the hub's HTTP API with schemathesis (`make api-fuzz`, and the bounded pass `make test` runs).
# Starts its own mosquitto and dabba-hub on free loopback ports in a temporary directory (removed on exit), seeds
# them (seed.py: a zone, a restaurant with a menu, orders in every state, payments, a webhook, an agent on shift
# and online, a tracking link), then runs schemathesis against the hub's served /openapi.yaml once per caller:
# anonymous, customer, restaurant, agent, operator (hooks.py signs each request with that role's token). Every
# operation is therefore called by every role: the roles it is for reach its handler, the others its refusal.
# Fails on any 5xx, crash (the hub process gone), or response that violates the document; prints a summary.
#
# Usage: BIN=<swift bin path> hub/api-fuzz/run.sh
# Knobs (environment): API_FUZZ_MAX_EXAMPLES (test cases per operation and phase, default 10), API_FUZZ_PHASES
# (default examples,coverage,fuzzing,stateful), API_FUZZ_ROLES (default: all five), API_FUZZ_SEED (default 1),
# API_FUZZ_STATEFUL_STEPS (default 20), API_FUZZ_WORKERS (concurrent test workers, default 1:
# hypothesis 6.170 raised internal errors with 2), API_FUZZ_JOBS (role passes run at once, default 1), API_FUZZ_VENV (where
# schemathesis is installed, default .build/api-fuzz-venv), API_FUZZ_KEEP=1 keeps the run directory (hub log,
# reports) and prints its path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BIN=${BIN:?set BIN to the swift build bin path}
MAX_EXAMPLES=${API_FUZZ_MAX_EXAMPLES:-10}
PHASES=${API_FUZZ_PHASES:-examples,coverage,fuzzing,stateful}
ROLES=${API_FUZZ_ROLES:-anonymous customer restaurant agent operator}
SEED=${API_FUZZ_SEED:-1}
WORKERS=${API_FUZZ_WORKERS:-1}
JOBS=${API_FUZZ_JOBS:-1}
STATEFUL_STEPS=${API_FUZZ_STATEFUL_STEPS:-20}
VENV=${API_FUZZ_VENV:-$root/.build/api-fuzz-venv}
started=$(date +%s)

# schemathesis, pinned (requirements.txt lists every package at its exact version), in a venv that is reused while
# the pins are unchanged. Debian's python3 (python3-venv from `make deps`), not whatever python3 is first on PATH.
stamp="$VENV/.requirements"
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  echo "api-fuzz: installing schemathesis into $VENV"
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$stamp"
fi
py="$VENV/bin/python"
echo "api-fuzz: $("$VENV/bin/schemathesis" --version)"

dir=$(mktemp -d /tmp/dabba-api-fuzz.XXXXXX)
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${API_FUZZ_KEEP:-0}" = 1 ]; then echo "api-fuzz: kept $dir"; else rm -rf "$dir"; fi
  exit $status
}
trap cleanup EXIT INT TERM

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mqtt_port=$(free_port)
http_port=$(free_port)
webhook_port=$(free_port)

cat > "$dir/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
persistence false
CONF
/usr/sbin/mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 & pids+=($!)
/usr/bin/python3 "$root/hub/demo/webhook-receiver.py" "$webhook_port" >"$dir/webhooks.log" 2>&1 & pids+=($!)

# The hub: the test payment provider, the sign-in limits lifted (the fuzzer signs in and registers thousands of
# times), loopback webhooks allowed (hooks.py points every registered URL at the local receiver), room for the
# seeded orders on one agent, and a known payment webhook secret (hooks.py signs most provider events with it).
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/payment-webhook.secret"
hub=(--config /dev/null --database "sqlite:$dir/hub.db" --mqtt-port "$mqtt_port" --http-port "$http_port"
     --assets "$root/hub" --mosquitto-password-file "$dir/mosquitto.passwd" --mosquitto-acl-file "$dir/mosquitto.acl"
     --payment-provider test --payment-webhook-secret-file "$dir/payment-webhook.secret"
     --webhook-allow-hosts 127.0.0.1 --webhook-retry-base 1 --webhook-max-attempts 2 --agent-capacity 10
     --payment-poll-interval 1
     --log-level warning)
for action in login register refresh ticket; do
  for scope in account address; do hub+=("--rate-limit-$action-$scope" "1000000/1"); done
done
"$BIN/dabba-hub" migrate "${hub[@]}" >/dev/null
printf 'fuzz-password-1\n' > "$dir/password"
for role in operator restaurant; do
  "$BIN/dabba-hub" users add "${hub[@]}" --role "$role" --email "$role@fuzz.test" --password-file "$dir/password" >/dev/null
done
for agent in a-17 a-18; do
  "$BIN/dabba-hub" agents provision "$agent" "${hub[@]}" --password-out "$dir/$agent.password" >/dev/null 2>&1
done
"$BIN/dabba-hub" users add "${hub[@]}" --role agent --agent-id a-17 --email agent@fuzz.test --password-file "$dir/password" >/dev/null
"$BIN/dabba-hub" serve "${hub[@]}" >"$dir/hub.log" 2>&1 & hub_pid=$!; pids+=($hub_pid)
base="http://127.0.0.1:$http_port"
answers() { "$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/v1/ping", timeout=10)' "$base" 2>/dev/null; }
for _ in $(seq 1 300); do answers && break; sleep 0.1; done
answers || { echo "api-fuzz: the hub did not start"; tail -20 "$dir/hub.log"; exit 1; }

"$py" "$here/seed.py" --base "$base" --dir "$dir" --mqtt-port "$mqtt_port" --webhook-port "$webhook_port" \
  --password fuzz-password-1 --max-examples "$MAX_EXAMPLES" --phases "$PHASES" --seed "$SEED" \
  --stateful-steps "$STATEFUL_STEPS" --workers "$WORKERS"

# One schemathesis run per caller; every run's events go to its own NDJSON report for the summary.
export PYTHONPATH="$here" PYTHONDONTWRITEBYTECODE=1 SCHEMATHESIS_HOOKS=hooks DABBA_FUZZ_DIR="$dir" DABBA_FUZZ_BASE="$base"
# API_FUZZ_JOBS passes run at once (each is one Python process against the same hub, mostly waiting on it: five at
# once take 85 s where one after another took 255 s, on two cores; the per-role results do not depend on the order). Each is started in the background and waited for, so a
# signal reaches the trap (which stops them) at once.
status=0
running=()   # "pid:role" of the passes still running
finish_one() {  # waits for the oldest running pass, prints its tail, checks the hub is still alive
  local entry=${running[0]} pid role
  running=("${running[@]:1}")
  pid=${entry%%:*}; role=${entry#*:}
  wait "$pid" || status=1
  echo "api-fuzz: pass as $role done"
  tail -n 25 "$dir/schemathesis-$role.log" | sed 's/^/  /'
  kill -0 "$hub_pid" 2>/dev/null || { echo "api-fuzz: the hub crashed during the $role pass"; tail -40 "$dir/hub.log"; exit 1; }
}
for role in $ROLES; do
  while [ "${#running[@]}" -ge "$JOBS" ]; do finish_one; done
  echo "api-fuzz: pass as $role"
  DABBA_FUZZ_ROLE=$role "$VENV/bin/schemathesis" --no-color --config-file "$dir/schemathesis.toml" run \
    "$base/openapi.yaml" --phases "$PHASES" --report ndjson --report-ndjson-path "$dir/report-$role.ndjson" \
    >"$dir/schemathesis-$role.log" 2>&1 & st_pid=$!; pids+=($st_pid); running+=("$st_pid:$role")
done
while [ "${#running[@]}" -gt 0 ]; do finish_one; done
alive=yes; answers || alive=no
"$py" "$here/summary.py" --dir "$dir" --roles "$ROLES" --hub-alive "$alive" --seconds $(( $(date +%s) - started )) \
  --document "$root/hub/openapi.yaml" \
  || status=1
exit $status
