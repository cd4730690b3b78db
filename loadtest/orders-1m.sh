#!/usr/bin/env bash
# Order lists over a big store: stores N orders (default 1,000,000: ten shops, every status and
# stage, updated over the last 30 days), starts `creatorflow serve` on them and runs
# list-orders.yml (every list filter, first and next pages) against it. Artillery fails the run
# when p99 > 20 ms or p95 > 10 ms.
# Usage: loadtest/orders-1m.sh [sqlite|postgres] [orders]
# Needs: a release build (built if missing), `npm ci` done in loadtest/, python3; for postgres,
# PostgreSQL at $PG_URL (the user may create databases) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=${1:-sqlite}
ORDERS=${2:-1000000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
BIN=target/release/creatorflow
PORT=${PORT:-18182}
WORK=$(mktemp -d)
source loadtest/lib.sh

cleanup() {
  stop_daemon
  [[ -z ${KEEP:-} && $BACKEND == postgres ]] && psql "$PG_URL" -qc "drop database if exists cf_orders_1m with (force)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
[[ -x $BIN ]] || cargo build --release --bin creatorflow

export CREATORFLOW__HTTP__LISTEN=127.0.0.1:$PORT CREATORFLOW__LOG__LEVEL=warn
export CREATORFLOW__WORKFLOW__ENABLED=false CREATORFLOW__TIKTOK__POLL_INTERVAL=1h
# The run's one key asks for more than a key's default allowance (100/s): this measures the
# lists, not the rate limit.
export CREATORFLOW__HTTP__RATE_LIMIT__PER_SECOND=100000 CREATORFLOW__HTTP__RATE_LIMIT__BURST=100000
case $BACKEND in
  sqlite) export CREATORFLOW__DATABASE__URL=sqlite://$WORK/cf.db ;;
  postgres)
    psql "$PG_URL" -qc "set client_min_messages = warning" \
      -c "drop database if exists cf_orders_1m with (force)" -c "create database cf_orders_1m"
    export CREATORFLOW__DATABASE__URL=${PG_URL%/*}/cf_orders_1m ;;
  *) echo "usage: $0 [sqlite|postgres] [orders]" >&2; exit 2 ;;
esac
"$BIN" migrate up >/dev/null

echo "storing $ORDERS orders ($BACKEND)"
started=$(date +%s)
# (status, stage) pairs in proportions a busy shop sees: most orders done, a few held or wrong.
PAIRS="COMPLETED:completed COMPLETED:completed COMPLETED:completed COMPLETED:completed \
COMPLETED:completed COMPLETED:completed DELIVERED:delivered DELIVERED:delivered \
IN_TRANSIT:in_transit AWAITING_COLLECTION:shipped AWAITING_SHIPMENT:validated \
AWAITING_SHIPMENT:stock_reserved AWAITING_SHIPMENT:label_purchased UNPAID:received \
ON_HOLD:received CANCELLED:cancelled CANCELLED:cancelled AWAITING_SHIPMENT:on_hold \
AWAITING_SHIPMENT:exception COMPLETED:completed"
if [[ $BACKEND == postgres ]]; then
  read -r -a pairs <<<"$PAIRS"
  statuses=$(printf "'%s'," "${pairs[@]%%:*}"); stages=$(printf "'%s'," "${pairs[@]##*:}")
  psql "$CREATORFLOW__DATABASE__URL" -q -v ON_ERROR_STOP=1 <<SQL
insert into orders (id, shop_id, status, stage, version, tiktok_create_time, tiktok_update_time,
                    currency, total_amount, created_at, updated_at)
select (576460752303423488 + g)::text, (7494049642642441000 + g % 10)::text,
       (array[${statuses%,}])[1 + g % 20], (array[${stages%,}])[1 + g % 20], 1 + g % 6,
       extract(epoch from now())::bigint - 2592000 + g * 2592 / $ORDERS,
       extract(epoch from now())::bigint - 2592000 + g * 2592 / $ORDERS,
       'USD', 1000 + g % 50000,
       now() - interval '30 days' + g * interval '2592 seconds' / $ORDERS,
       now() - interval '30 days' + g * interval '2592 seconds' / $ORDERS
from generate_series(1::bigint, $ORDERS) g;
analyze orders;
SQL
else
  python3 - "$WORK/cf.db" "$ORDERS" "$PAIRS" <<'PY'
import sqlite3, sys, time
from datetime import datetime, timedelta, timezone
db, n, pairs = sqlite3.connect(sys.argv[1]), int(sys.argv[2]), [p.split(":") for p in sys.argv[3].split()]
start = datetime.now(timezone.utc) - timedelta(days=30)
def rows():
    for g in range(1, n + 1):
        at = start + timedelta(seconds=g * 2592000 / n)
        ts = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000+00:00"
        status, stage = pairs[g % 20]
        yield (str(576460752303423488 + g), str(7494049642642441000 + g % 10), status, stage,
               1 + g % 6, int(at.timestamp()), int(at.timestamp()), "USD", 1000 + g % 50000, ts, ts)
with db:
    db.executemany("insert into orders (id, shop_id, status, stage, version, tiktok_create_time, "
                   "tiktok_update_time, currency, total_amount, created_at, updated_at) "
                   "values (?,?,?,?,?,?,?,?,?,?,?)", rows())
PY
fi
echo "stored in $(( $(date +%s) - started )) s"

CREATORFLOW_API_KEY=$("$BIN" apikey create --admin --name orders-1m)
export CREATORFLOW_API_KEY
start_daemon "$WORK/serve.log"
status=0
(cd loadtest && npx artillery run --quiet --output "$WORK/report.json" \
  --target "http://127.0.0.1:$PORT" list-orders.yml) | grep -E "^(ok|fail):" || status=$?
python3 - "$WORK/report.json" <<'PY'
import json, sys
agg = json.load(open(sys.argv[1]))["aggregate"]
c, t = agg["counters"], agg["summaries"]["http.response_time"]
codes = {k.split(".")[-1]: v for k, v in c.items() if k.startswith("http.codes.")}
errors = {k: v for k, v in c.items() if k.startswith("errors.")}
print(f"{c.get('http.requests', 0)} list requests, codes {codes}, errors {errors or 'none'}")
print(f"latency ms: p50 {t['p50']}, p95 {t['p95']}, p99 {t['p99']}, max {t['max']}")
PY
exit $status
