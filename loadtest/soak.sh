#!/usr/bin/env bash
# The soak, measured: starts `creatorflow serve` (SQLite, or PostgreSQL with a URL), runs
# soak.yml against it (~1,000 orders in flight, ~200 webhooks/s) while sampling the daemon's RSS
# every 10 s, then prints the RSS at the start, halfway, at the end and the largest of the second
# half, beside Artillery's verdict. RSS is flat when the end is within 10% of halfway.
# Usage: loadtest/soak.sh [database-url] [seconds=600]
# Needs: a release build (built if missing) and `npm ci` done in loadtest/.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=$(mktemp -d)
URL=${1:-sqlite://$WORK/cf.db}
DURATION=${2:-600}
BIN=target/release/creatorflow
PORT=${PORT:-18183}
DAEMON=
cleanup() {
  [[ -n "$DAEMON" ]] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[[ -x $BIN ]] || cargo build --release --bin creatorflow

export CREATORFLOW__TIKTOK__APP_KEY=soak_key CREATORFLOW__TIKTOK__APP_SECRET=soak_secret
export CREATORFLOW_APP_KEY=soak_key CREATORFLOW_APP_SECRET=soak_secret
export CREATORFLOW__DATABASE__URL=$URL CREATORFLOW__LOG__LEVEL=warn
export CREATORFLOW__HTTP__LISTEN=127.0.0.1:$PORT CREATORFLOW__TIKTOK__POLL_INTERVAL=1h
"$BIN" serve >"$WORK/serve.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
loadtest/rss.sh "$DAEMON" >"$WORK/rss.txt" &
sed "s/duration: 600/duration: $DURATION/" loadtest/soak.yml >loadtest/.soak-run.yml
status=0
(cd loadtest && npx artillery run --quiet --output "$WORK/report.json" \
  --target "http://127.0.0.1:$PORT" .soak-run.yml) | grep -E "^(ok|fail):" || status=$?
rm -f loadtest/.soak-run.yml
python3 - "$WORK/report.json" "$WORK/rss.txt" <<'PY'
import json, sys
agg = json.load(open(sys.argv[1]))["aggregate"]
c, t = agg["counters"], agg["summaries"]["http.response_time"]
codes = {k.split(".")[-1]: v for k, v in c.items() if k.startswith("http.codes.")}
print(f"{c.get('http.requests', 0)} webhooks, codes {codes}; "
      f"latency ms p50 {t['p50']}, p95 {t['p95']}, p99 {t['p99']}, max {t['max']}")
rss = [int(line.split()[1]) for line in open(sys.argv[2]) if line.split()[1].isdigit()]
# Live orders grow until the first ones passivate (`engine.passivate_after`, 5 min by default:
# ~30 s of changes + 5 min idle, at 33 new orders/s ~11,000 live); compare the second half.
half = rss[len(rss) // 2:] or rss
print(f"RSS KiB: start {rss[0]}, halfway {half[0]}, end {half[-1]}, max of second half "
      f"{max(half)} ({len(rss)} samples; end/halfway {half[-1] / half[0]:.2f})")
PY
exit $status
