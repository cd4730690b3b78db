#!/usr/bin/env bash
# The database's own ceiling beside CreatorFlow's, in one run on one machine:
#   (a) PostgreSQL: pgbench, one single-row INSERT per transaction, at the same concurrency as
#       (b) `creatorflow loadgen` against `creatorflow serve` on PostgreSQL; both figures and
#       their ratio. The same for SQLite: one INSERT per fsynced transaction from one writer
#       (SQLite has one writer whatever the concurrency) beside the daemon on SQLite.
# Usage: loadtest/compare.sh [concurrency=64] [seconds=20]
# Needs: a release build (built if missing), PostgreSQL at $PG_URL (user may create databases),
# pgbench, python3. Finishes in about two minutes once the binary is built.
set -euo pipefail
cd "$(dirname "$0")/.."

CONCURRENCY=${1:-64}
SECONDS_PER_RUN=${2:-20}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
PG_SERVER=${PG_URL%/*}
BIN=target/release/creatorflow
PORT=${PORT:-18181}
EVENTS=${EVENTS:-60000}
WORK=$(mktemp -d)
source loadtest/lib.sh

cleanup() {
  stop_daemon
  for db in cf_compare_pgbench cf_compare_daemon; do
    psql "$PG_URL" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x $BIN ]] || cargo build --release --bin creatorflow

export CREATORFLOW__TIKTOK__APP_KEY=compare_key CREATORFLOW__TIKTOK__APP_SECRET=compare_secret
export CREATORFLOW__WORKFLOW__ENABLED=false CREATORFLOW__LOG__LEVEL=warn
export CREATORFLOW__HTTP__LISTEN=127.0.0.1:$PORT CREATORFLOW__TIKTOK__POLL_INTERVAL=1h

# Runs `creatorflow serve` on $1 and prints loadgen's events/s at the concurrency.
daemon_rate() {
  CREATORFLOW__DATABASE__URL=$1 start_daemon "$WORK/serve.log"
  "$BIN" loadgen --url "http://127.0.0.1:$PORT" --events "$EVENTS" --orders $((EVENTS / 5)) \
    --concurrency "$CONCURRENCY" --json >"$WORK/loadgen.json"
  stop_daemon
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.0f %.1f %.1f" % (r["events_per_second"], r["p50_ms"], r["p99_ms"]))' "$WORK/loadgen.json"
}

echo "== PostgreSQL, $CONCURRENCY connections"
psql "$PG_URL" -qc "set client_min_messages = warning" -c "drop database if exists cf_compare_pgbench with (force)" -c "create database cf_compare_pgbench"
psql "$PG_SERVER/cf_compare_pgbench" -qc \
  "create table events (id bigserial primary key, order_id text not null, payload jsonb not null, created_at timestamptz not null default now())"
cat >"$WORK/insert.sql" <<'SQL'
\set id random(1, 1000000000)
insert into events (order_id, payload) values (:id, '{"status": "AWAITING_SHIPMENT"}');
SQL
pgbench -n -c "$CONCURRENCY" -j 2 -T "$SECONDS_PER_RUN" -f "$WORK/insert.sql" \
  "$PG_SERVER/cf_compare_pgbench" >"$WORK/pgbench.txt" 2>&1
PGBENCH_TPS=$(awk '/^tps = /{print int($3); exit}' "$WORK/pgbench.txt")
psql "$PG_URL" -qc "set client_min_messages = warning" -c "drop database if exists cf_compare_daemon with (force)" -c "create database cf_compare_daemon"
read -r PG_RATE PG_P50 PG_P99 < <(daemon_rate "$PG_SERVER/cf_compare_daemon")
echo "pgbench (one single-row insert per transaction): $PGBENCH_TPS tps"
echo "creatorflow on PostgreSQL (durable webhooks):    $PG_RATE events/s (p50 $PG_P50 ms, p99 $PG_P99 ms)"
python3 -c "print(f'ratio: {$PG_RATE / $PGBENCH_TPS:.2f}x pgbench')"

echo "== SQLite (one writer)"
SQLITE_TPS=$(python3 - "$WORK/ceiling.db" "$SECONDS_PER_RUN" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("pragma journal_mode=wal"); db.execute("pragma synchronous=full")
db.execute("create table events (id integer primary key, order_id text, payload text, created_at text)")
n, end = 0, time.time() + min(float(sys.argv[2]), 10)
while time.time() < end:
    db.execute("begin immediate")
    db.execute("insert into events (order_id, payload, created_at) values (?, ?, datetime('now'))",
               (str(n), '{"status": "AWAITING_SHIPMENT"}'))
    db.execute("commit")
    n += 1
print(int(n / min(float(sys.argv[2]), 10)))
PY
)
read -r SQ_RATE SQ_P50 SQ_P99 < <(daemon_rate "sqlite://$WORK/daemon.db?mode=rwc")
echo "sqlite3 (one single-row insert per fsynced transaction): $SQLITE_TPS tps"
echo "creatorflow on SQLite (durable webhooks):                 $SQ_RATE events/s (p50 $SQ_P50 ms, p99 $SQ_P99 ms)"
python3 -c "print(f'ratio: {$SQ_RATE / $SQLITE_TPS:.2f}x one-transaction-per-event')"
