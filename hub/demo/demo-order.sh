#!/usr/bin/env bash
# Part of `make demo`: sets up a tiny marketplace over the hub's REST API (a zone around Kharagpur, a restaurant with
# a menu, a customer), places an order and has the restaurant accept it; agent a-17 starts its shift from its device
# (`dabba-agent shift start`), the hub's dispatch offers it the order over MQTT, and the rider accepts on the device
# (`dabba-agent accept`). Prints the customer's tracking link, then plays the kitchen's "ready" and the rider's pickup
# and delivery (cash collected), from the device, as a-17's route passes the restaurant and the door.
# Usage: AGENT_SOCKET=… demo-order.sh HTTP_PORT BIN HUB_ARGS... (the hub's flags, for `dabba-hub users add`;
# AGENT_SOCKET: a-17's control socket).
set -euo pipefail
port=$1 bin=$2; shift 2
agent=("$bin/dabba-agent")
socket=(--config /dev/null --control-socket "${AGENT_SOCKET:?set AGENT_SOCKET to the control socket of a-17}")
base="http://127.0.0.1:$port"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
call() {  # METHOD PATH TOKEN [BODY] → body on stdout; fails loudly on an HTTP error
  local method=$1 path=$2 token=$3 body=${4:-}
  local args=(-sS -X "$method" -o "$dir/out" -w '%{http_code}' -H 'content-type: application/json')
  [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
  [ -n "$body" ] && args+=(-d "$body")
  local code; code=$(curl "${args[@]}" "$base$path")
  if [ "${code:0:1}" != 2 ]; then echo "demo-order: $method $path → $code $(cat "$dir/out")" >&2; return 1; fi
  cat "$dir/out"
}
login() { call POST /v1/auth/login "" "{\"email\":\"$1\",\"password\":\"$2\"}" | json accessToken; }

echo "demo-password" > "$dir/pw"
"$bin/dabba-hub" users add "$@" --role restaurant --email kitchen@dabba.demo --password-file "$dir/pw" >/dev/null
# a-18's rider signs in on the web (/rider) instead of using the device's CLI.
"$bin/dabba-hub" users add "$@" --role agent --agent-id a-18 --email rider@dabba.demo --password-file "$dir/pw" >/dev/null
operator=$(login operator@dabba.demo demo-password)
kitchen=$(login kitchen@dabba.demo demo-password)
call POST /v1/auth/register "" '{"email":"customer@dabba.demo","password":"demo-password","name":"Asha"}' >/dev/null
customer=$(login customer@dabba.demo demo-password)

call POST /v1/zones "$operator" \
  '{"name":"Kharagpur","polygon":[[87.28,22.29],[87.34,22.29],[87.34,22.34],[87.28,22.34]],"deliveryFee":3000,"currency":"INR"}' >/dev/null
restaurant=$(call POST /v1/restaurants "$kitchen" '{"name":"Tech Market Tiffins","address":"Tech Market, IIT Kharagpur",
  "location":{"lat":22.31611,"lon":87.31700},"currency":"INR","hours":{"timezone":"Asia/Kolkata","hours":{"mon":[["00:00","24:00"]],
  "tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],
  "sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}}}' | json id)
# The restaurant's webhook: its order events go to the demo's receiver on loopback (allowed by --webhook-allow-hosts).
call POST /v1/webhooks "$kitchen" "{\"url\":\"http://127.0.0.1:${WEBHOOK_PORT:-18090}/hook\",\"restaurant\":\"$restaurant\"}" >/dev/null
section=$(call POST "/v1/restaurants/$restaurant/menu/sections" "$kitchen" '{"name":"Tiffin"}' | json id)
item=$(call POST "/v1/restaurants/$restaurant/menu/items" "$kitchen" \
  "{\"sectionID\":\"$section\",\"name\":\"Masala dosa\",\"price\":9000,\"currency\":\"INR\"}" | json id)
order=$(call POST /v1/orders "$customer" "{\"restaurant\":\"$restaurant\",\"items\":[{\"item\":\"$item\",\"quantity\":2}],
  \"address\":\"Nehru Hall, IIT Kharagpur\",\"lat\":22.31381,\"lon\":87.30397,\"paymentMethod\":\"cod\"}" | json id)
call POST "/v1/orders/$order/accept" "$kitchen" '{"prepMinutes":4}' >/dev/null
# Dispatch offers orders only to agents on shift, online, with a fresh fix: a-17's rider starts the shift on the
# device (a-18 stays off shift, so the offer goes to a-17), and the offer arrives in the device's task list.
"${agent[@]}" shift start "${socket[@]}" >/dev/null
task() { "${agent[@]}" tasks "${socket[@]}" 2>/dev/null | grep "^$order " || true; }
offered=""
for _ in $(seq 1 120); do
  offered=$(task)
  [ -n "$offered" ] && break
  sleep 0.5
done
if [ -z "$offered" ]; then echo "demo-order: no offer of $order reached a-17 within 60 s (see the hub's log)" >&2; exit 1; fi
"${agent[@]}" accept "$order" "${socket[@]}" >/dev/null
# The demo's own order is a-17's: the simulated fleet may start now (demo.sh waits for this file).
[ -n "${ACCEPTED_FILE:-}" ] && touch "$ACCEPTED_FILE"
cash=$(echo "$offered" | sed -n 's/.* collect \([0-9]*\) .*/\1/p')
token=$(call POST "/v1/orders/$order/share" "$customer" '{"ttlMinutes":120}' | json token)
cat <<INFO
  order         $order (2 × Masala dosa, cash on delivery) — accepted by Tech Market Tiffins, offered to a-17 by
                dispatch and accepted on its device: $bin/dabba-agent tasks --control-socket $AGENT_SOCKET
  tracking      $base/track/$token   (the customer's live page; agent position and ETA while assigned)
  customer app  $base/app   (customer@dabba.demo / demo-password; the order is under Orders)
  restaurant    $base/restaurant   (kitchen@dabba.demo / demo-password)
  rider         $base/rider   (rider@dabba.demo / demo-password: agent a-18 — start its shift to be offered orders)
  dashboard     $base/   (operator@dabba.demo / demo-password)
INFO
# a-17's route passes the restaurant about 5 minutes in and the customer's door about 10 minutes in.
sleep 240; call POST "/v1/orders/$order/ready" "$kitchen" >/dev/null
sleep 60;  "${agent[@]}" pickup "$order" "${socket[@]}" >/dev/null && echo "demo: $order picked up (dabba-agent pickup)"
sleep 300; "${agent[@]}" deliver "$order" ${cash:+--cash-collected "$cash"} "${socket[@]}" >/dev/null &&
  echo "demo: $order delivered, ${cash:-0} collected (dabba-agent deliver)"
