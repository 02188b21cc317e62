#!/usr/bin/env bash
# Part of `make demo`: sets up a tiny marketplace over the hub's REST API (a zone around Kharagpur, a restaurant with
# a menu, a customer), places an order, has the restaurant accept it and the operator assign agent a-17, prints the
# customer's tracking link, then plays pickup and delivery as the agent's route passes the restaurant and the door.
# Usage: demo-order.sh HTTP_PORT BIN HUB_ARGS... (the hub's flags, for `dabba-hub users add`).
set -euo pipefail
port=$1 bin=$2; shift 2
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
# Assignments go only to agents on shift and online (a-17's device is connected by now).
call POST /v1/agents/a-17/shift "$operator" '{"action":"start"}' >/dev/null
call POST "/v1/orders/$order/assign" "$operator" '{"agent":"a-17"}' >/dev/null
token=$(call POST "/v1/orders/$order/share" "$customer" '{"ttlMinutes":120}' | json token)
cat <<INFO
  order         $order (2 × Masala dosa, cash on delivery) — accepted by Tech Market Tiffins, assigned to a-17
  tracking      $base/track/$token   (the customer's live page; agent position and ETA while assigned)
  customer app  $base/app   (customer@dabba.demo / demo-password; the order is under Orders)
  restaurant    $base/restaurant   (kitchen@dabba.demo / demo-password)
  dashboard     $base/   (operator@dabba.demo / demo-password)
INFO
# a-17's route passes the restaurant about 5 minutes in and the customer's door about 10 minutes in.
sleep 240; call POST "/v1/orders/$order/ready" "$kitchen" >/dev/null
sleep 60;  call POST "/v1/orders/$order/pickup" "$operator" >/dev/null && echo "demo: $order picked up"
sleep 300; call POST "/v1/orders/$order/deliver" "$operator" >/dev/null && echo "demo: $order delivered"
