#!/usr/bin/env bash
# Two builds of the daemon side by side in one run: webhooks/s, p99 and the daemon's CPU per
# acknowledged webhook (from /proc), each build run ROUNDS times, alternating, on SQLite at 64
# connections (wrk and a corpus from `creatorflow loadgen --corpus`, as compare.sh). Used to
# show that a change costs nothing measurable, e.g. traces with no endpoint configured:
#   BEFORE=/tmp/before/creatorflow AFTER=target/release/creatorflow loadtest/ab.sh 10 4
# Extra environment for the AFTER build only: AFTER_ENV="CREATORFLOW__TELEMETRY__OTLP_ENDPOINT=…".
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${1:-10}
ROUNDS=${2:-3}
CONNECTIONS=${CONNECTIONS:-64}
EVENTS=${EVENTS:-300000}
PORT=${PORT:-18182}
WORK=$(mktemp -d)
source loadtest/lib.sh  # stop_daemon
trap 'stop_daemon; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install -y wrk)" >&2; exit 1; }

export CREATORFLOW__TIKTOK__APP_KEY=ab_key CREATORFLOW__TIKTOK__APP_SECRET=ab_secret
export CREATORFLOW__WORKFLOW__ENABLED=false CREATORFLOW__LOG__LEVEL=warn
export CREATORFLOW__HTTP__LISTEN=127.0.0.1:$PORT CREATORFLOW__TIKTOK__POLL_INTERVAL=1h
"$AFTER" loadgen --events "$EVENTS" --orders $((EVENTS / 5)) --corpus "$WORK/corpus.txt" 2>/dev/null

cpu_of() {
  local stat
  stat=$(cat "/proc/$1/stat")
  stat=${stat##*) }
  python3 -c "print($(awk '{print $12 + $13}' <<<"$stat") / $(getconf CLK_TCK))"
}

# One run of build $1 (with the environment words in $2): "rate p99 us_per_webhook".
run() {
  local bin=$1 extra=$2
  rm -f "$WORK"/daemon.db*
  # shellcheck disable=SC2086
  env $extra CREATORFLOW__DATABASE__URL="sqlite://$WORK/daemon.db?mode=rwc" "$bin" serve \
    >"$WORK/serve.log" 2>&1 &
  DAEMON=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  local before after
  before=$(cpu_of "$DAEMON")
  CORPUS=$WORK/corpus.txt THREADS=2 wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" \
    -s loadtest/wrk.lua "http://127.0.0.1:$PORT" >"$WORK/wrk.txt" 2>&1
  after=$(cpu_of "$DAEMON")
  stop_daemon
  python3 - "$WORK/wrk.txt" "$before" "$after" <<'PY'
import sys
out = dict(l.split()[:2] for l in open(sys.argv[1]) if len(l.split()) == 2)
if int(out["refused"]):
    sys.exit(f"{out['refused']} webhooks were not acknowledged")
n, s = int(out["requests"]), float(out["seconds"])
print(f"{n / s:.0f} {out['latency_p99_ms']} {(float(sys.argv[3]) - float(sys.argv[2])) / n * 1e6:.1f}")
PY
}

# Alternating which goes first (ABBA), so a drift of the machine over the run favours neither.
for round in $(seq "$ROUNDS"); do
  order="before after"
  ((round % 2 == 0)) && order="after before"
  for side in $order; do
    if [[ $side == before ]]; then line=$(run "$BEFORE" ""); else line=$(run "$AFTER" "${AFTER_ENV:-}"); fi
    read -r rate p99 us <<<"$line"
    echo "round $round $side: $rate webhooks/s, p99 $p99 ms, daemon $us µs CPU per webhook"
    echo "$side $rate $p99 $us" >>"$WORK/all.txt"
  done
done
python3 - "$WORK/all.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(side, col): return statistics.median(float(r[col]) for r in rows if r[0] == side)
b, a = med("before", 1), med("after", 1)
bu, au = med("before", 3), med("after", 3)
print(f"median: before {b:.0f}/s {bu:.1f} µs, after {a:.0f}/s {au:.1f} µs; after/before rate {a / b:.3f}, CPU {au / bu:.3f}")
PY
