#!/usr/bin/env bash
# What HTTP alone costs per request on this machine, side by side in one run: actix-web with
# nothing of the daemon's, hyper's HTTP/1 server alone (both in loadtest/http-floor/, two worker
# threads like the daemon's default on two cores), and `creatorflow serve` (on SQLite) at the
# `warn` and at its default `info` log level. wrk at 256 connections sends each `GET /livez`, then
# a `POST /webhooks/tiktok` of a webhook's size with a signature that does not verify (the bare
# servers answer it 200 after reading the body; the daemon reads it, checks the HMAC and answers
# a 401 problem). Prints requests/s and the server's CPU (user + system, from /proc) per request.
# Usage: loadtest/http-floor.sh [rounds=2] [seconds per run=10]
# Needs: a release build of the daemon (built if missing; BIN to use another), wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-2}
SECONDS_PER_RUN=${2:-10}
BIN=${BIN:-target/release/creatorflow}
WORK=$(mktemp -d)
SERVER=

cleanup() {
  [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install -y wrk)" >&2; exit 1; }
[[ -x $BIN ]] || cargo build --release --bin creatorflow
cargo build --quiet --release --manifest-path loadtest/http-floor/Cargo.toml --target-dir target/http-floor
BARE=target/http-floor/release

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"type":1,"tts_notification_id":"7327112393057371910","shop_id":"7494049642642441621","timestamp":1700000000,"data":{"order_id":"576461413038785752","order_status":"AWAITING_SHIPMENT","update_time":1700000000,"is_on_hold_order":false}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
LUA

# Starts "$@" in the background as SERVER and waits until $1's port answers /livez.
serve() {
  local port=$1
  shift
  "$@" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/livez" && return
    sleep 0.1
  done
  echo "the server on port $port did not start:" >&2
  cat "$WORK/server.log" >&2
  exit 1
}

stop() {
  kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  SERVER=
}

# wrk at 256 connections against $1 (a URL), with the script $2 if given; prints
# "requests/s µs-per-request" for SERVER's CPU.
measure() {
  local url=$1 lua=${2:-} before after
  wrk -t2 -c256 -d2s ${lua:+-s "$lua"} "$url" >/dev/null
  before=$(awk '{print $14 + $15}' "/proc/$SERVER/stat")
  wrk -t2 -c256 -d"${SECONDS_PER_RUN}s" ${lua:+-s "$lua"} "$url" >"$WORK/wrk.txt"
  after=$(awk '{print $14 + $15}' "/proc/$SERVER/stat")
  awk -v before="$before" -v after="$after" -v tick="$(getconf CLK_TCK)" '
    /requests in/ { n = $1 }
    /Requests\/sec/ { rate = $2 }
    END { printf "%8.0f/s %6.2f µs", rate, (after - before) / tick * 1e6 / n }' "$WORK/wrk.txt"
}

row() {
  local name=$1 port=$2
  printf '%-26s GET /livez %s   POST a webhook %s\n' "$name" \
    "$(measure "http://127.0.0.1:$port/livez")" \
    "$(measure "http://127.0.0.1:$port/webhooks/tiktok" "$WORK/post.lua")"
}

daemon() {
  local level=$1 dir="$WORK/daemon-$1"
  mkdir -p "$dir"
  serve 18213 env -C "$dir" CREATORFLOW__LOG__LEVEL="$level" CREATORFLOW__HTTP__LISTEN=127.0.0.1:18213 \
    CREATORFLOW__DATABASE__URL="sqlite://$dir/daemon.db?mode=rwc" \
    CREATORFLOW__TIKTOK__APP_KEY=floor_key CREATORFLOW__TIKTOK__APP_SECRET=floor_secret \
    CREATORFLOW__WORKFLOW__ENABLED=false CREATORFLOW__TIKTOK__POLL_INTERVAL=1h "$(realpath "$BIN")" serve
  row "creatorflow serve ($level)" 18213
  stop
}

for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  serve 18211 "$BARE/bare_actix" 18211 && row "actix-web, bare" 18211 && stop
  serve 18212 "$BARE/bare_hyper" 18212 && row "hyper, bare" 18212 && stop
  daemon warn
  daemon info
done
