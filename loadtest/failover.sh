#!/usr/bin/env bash
# Cluster mode: how long slots go without an owner when a node fails, measured with real
# processes on one PostgreSQL. Two `creatorflow serve` in cluster mode (node-a, node-b) share
# the 256 slots; then, RUNS times each:
#   kill -9   node-a is killed; the time until node-b holds every slot (its leases had to end);
#   SIGSTOP   node-a is paused past its lease, node-b takes its slots, node-a is resumed: the
#             time until node-b holds every slot, and that node-a comes back holding its share
#             again at new epochs (it finds its leases gone at its first round);
#   graceful  node-a gets SIGTERM: the time until node-b holds every slot (given back at stop).
# node-a is restarted between runs and the two share the slots again first. Times are read
# from `GET /api/v1/cluster` on node-b every 50 ms, so they are within ~50 ms.
# Usage: loadtest/failover.sh [runs=60] (the three faults in turn: 20 runs of each)
# Needs: PostgreSQL at $PG_URL (user may create databases), curl, python3; a build of the
# daemon (BIN, default target/debug/creatorflow: lease timing does not depend on the build).
set -euo pipefail
cd "$(dirname "$0")/.."
source loadtest/lib.sh  # wait_ready

RUNS=${1:-60}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
PG_SERVER=${PG_URL%/*}
BIN=${BIN:-target/debug/creatorflow}
DB=cf_failover
WORK=$(mktemp -d)
PORT_A=18291
PORT_B=18292
A=
B=

cleanup() {
  for pid in $A $B; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG_URL" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x $BIN ]] || cargo build --bin creatorflow
psql "$PG_URL" -qc "drop database if exists $DB with (force)" -c "create database $DB" >/dev/null

export CREATORFLOW__DATABASE__URL="$PG_SERVER/$DB"
export CREATORFLOW__CLUSTER__ENABLED=true
export CREATORFLOW__CLUSTER__SECRET=failover-test-secret-0123
export CREATORFLOW__LOG__LEVEL=warn
"$BIN" migrate up >/dev/null 2>&1
KEY=$("$BIN" apikey create --admin --name failover 2>/dev/null)

# start NAME PORT: a node in the background; sets STARTED to its pid.
start() {
  CREATORFLOW__CLUSTER__NODE_ID=$1 CREATORFLOW__HTTP__LISTEN=127.0.0.1:$2 \
    "$BIN" serve >>"$WORK/$1.log" 2>&1 &
  STARTED=$!
  wait_ready "$2" "$WORK/$1.log" || exit 1
}

# slots PORT NODE: the slots NODE holds as the node on PORT sees it (-1 if it does not answer).
slots() {
  curl -sf -m 1 -H "authorization: Bearer $KEY" "http://127.0.0.1:$1/api/v1/cluster" |
    python3 -c "import json,sys; c=json.load(sys.stdin); print(sum(1 for s in c['slots'] if s['owner']=='$2' and (s['expires_in_ms'] or 0) > 0))" \
      2>/dev/null || echo -1
}

# until_held PORT NODE COUNT: waits until NODE holds COUNT slots; prints the seconds it took.
until_held() {
  local started now
  started=$(date +%s.%N)
  for _ in $(seq 600); do
    if [[ $(slots "$1" "$2") -ge $3 ]]; then
      now=$(date +%s.%N)
      python3 -c "print(f'{$now - $started:.2f}')"
      return 0
    fi
    sleep 0.05
  done
  echo "timeout"
  return 1
}

# shared: both nodes hold some slots and together all 256.
shared() {
  for _ in $(seq 200); do
    local a b
    a=$(slots $PORT_B node-a)
    b=$(slots $PORT_B node-b)
    if ((a > 0 && b > 0 && a + b == 256)); then return 0; fi
    sleep 0.05
  done
  echo "the nodes did not share the slots" >&2
  exit 1
}

start node-b $PORT_B
B=$STARTED
killed=() paused=() graceful=() came_back=()
for run in $(seq "$RUNS"); do
  start node-a $PORT_A
  A=$STARTED
  shared
  case $((run % 3)) in
    1)
      kill -9 "$A"; wait "$A" 2>/dev/null || true; A=
      killed+=("$(until_held $PORT_B node-b 256)")
      ;;
    2)
      kill -STOP "$A"
      paused+=("$(until_held $PORT_B node-b 256)")
      kill -CONT "$A"
      came_back+=("$(until_held $PORT_B node-a 1)")
      kill "$A"; wait "$A" 2>/dev/null || true; A=
      until_held $PORT_B node-b 256 >/dev/null
      ;;
    0)
      kill "$A"
      graceful+=("$(until_held $PORT_B node-b 256)")
      wait "$A" 2>/dev/null || true; A=
      ;;
  esac
done

report() { # report WHAT TIMES...
  local what=$1; shift
  [[ $# -gt 0 ]] || return 0
  python3 - "$what" "$@" <<'PY'
import statistics, sys
what, times = sys.argv[1], sys.argv[2:]
bad = [t for t in times if t == "timeout"]
t = sorted(float(x) for x in times if x != "timeout")
print(f"{what:<44} runs {len(times):>2}  p50 {statistics.median(t):5.2f} s  max {max(t):5.2f} s" + (f"  TIMEOUTS {len(bad)}" if bad else ""))
PY
}
echo "cluster.lease 5s, cluster.heartbeat 500ms (the defaults)"
report "kill -9: node-b holds every slot after" "${killed[@]}"
report "SIGSTOP past the lease: node-b holds all after" "${paused[@]}"
report "SIGCONT: node-a holds slots again after" "${came_back[@]}"
report "SIGTERM: node-b holds every slot after" "${graceful[@]}"
echo "node-a found $(grep -c "taken over" "$WORK/node-a.log" || true) slots taken over when it was resumed"
