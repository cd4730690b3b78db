#!/usr/bin/env bash
# The database's own ceiling for the rows the journal writes per event, on this machine.
#
# Each order event the journal commits writes four rows: the inbox row that dedupes it, the audit
# event, the order's snapshot (an upsert that moves it in the per-shop list indexes) and the
# outbox row announcing the transition. This script writes exactly those rows into a freshly
# migrated CreatorFlow schema, in batches of $BATCH events per transaction, with the rows
# generated inside the database (generate_series / a recursive CTE): no driver, no binding, no
# application CPU. What it prints is the most events/s the database itself can make durable on
# this machine with the cores all to itself; the daemon cannot exceed it.
#   PostgreSQL: pgbench, $WRITERS connections (one per core; the journal's four writers gave
#   less), disjoint orders each, as concurrent journal batches never share an order.
#   SQLite: python3's sqlite3, one writer, WAL, synchronous=FULL (the daemon's default).
# Both also without the inbox and outbox rows (audit event + snapshot only).
# Usage: loadtest/ceiling.sh [seconds=15]
# Needs: a release build (built if missing), PostgreSQL at $PG_URL (user may create databases),
# pgbench, python3. Takes about four times the given seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${1:-15}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
PG_SERVER=${PG_URL%/*}
BIN=target/release/creatorflow
BATCH=${BATCH:-512}
WRITERS=${WRITERS:-2}
ORDERS_PER_WRITER=30000
DB=cf_ceiling
WORK=$(mktemp -d)

cleanup() {
  psql "$PG_URL" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x $BIN ]] || cargo build --release --bin creatorflow
export CREATORFLOW__LOG__LEVEL=warn
ORDERS=$((ORDERS_PER_WRITER * WRITERS))
SHOP=7494049642642441621

# The rows, as the journal writes them (payloads of the size the daemon stores).
EVENT_PAYLOAD="'{\"to\": \"AWAITING_SHIPMENT\", \"from\": \"ON_HOLD\", \"kind\": \"status_changed\", \"update_time\": ' || n || '}'"
OUTBOX_PAYLOAD="'{\"stage\": \"received\", \"effect\": \"transitioned\", \"status\": \"AWAITING_SHIPMENT\", \"shop_id\": \"$SHOP\", \"version\": ' || n || ', \"order_id\": \"' || oid || '\", \"from_stage\": \"received\", \"from_status\": \"ON_HOLD\", \"update_time\": ' || n || ', \"stage_reason\": null}'"
EVENT_COLUMNS="order_id, seq, kind, from_status, to_status, from_stage, to_stage, cause, payload, created_at"
SNAPSHOT_COLUMNS="id, shop_id, created_at, status, stage, version, updated_at"
SNAPSHOT_UPDATE="status = excluded.status, stage = excluded.stage, version = excluded.version, updated_at = excluded.updated_at"

seed_sql() { # $1: the function that numbers the rows
  echo "INSERT INTO orders ($SNAPSHOT_COLUMNS) SELECT CAST(1000000000 + g AS TEXT), '$SHOP', $1, 'ON_HOLD', 'received', 1, $1 FROM $2;"
}

pg_batch() { # $1 = full | audit
  cat <<SQL
\set o :client_id * $ORDERS_PER_WRITER + random(0, $((ORDERS_PER_WRITER - BATCH)))
WITH ids AS (SELECT (1000000000 + :o + g)::text AS oid, nextval('ceiling_seq') AS n FROM generate_series(0, $((BATCH - 1))) g),
SQL
  if [[ $1 == full ]]; then
    cat <<SQL
inbox AS (INSERT INTO webhook_inbox (dedupe_key, event_type, shop_id, order_id, received_at) SELECT 'ceiling:' || n, 1, '$SHOP', oid, now() FROM ids ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key),
kept AS (SELECT * FROM ids WHERE 'ceiling:' || n IN (SELECT dedupe_key FROM inbox)),
effects AS (INSERT INTO outbox (routing_key, payload, attempts, created_at) SELECT 'order.transition.received', ($OUTBOX_PAYLOAD)::jsonb, 0, now() FROM kept),
SQL
  else
    echo "kept AS (SELECT * FROM ids),"
  fi
  cat <<SQL
events AS (INSERT INTO order_events ($EVENT_COLUMNS) SELECT oid, n, 'status_changed', 'ON_HOLD', 'AWAITING_SHIPMENT', 'received', 'received', 'webhook:ceiling:' || n, ($EVENT_PAYLOAD)::jsonb, now() FROM kept)
INSERT INTO orders ($SNAPSHOT_COLUMNS) SELECT oid, '$SHOP', now(), 'AWAITING_SHIPMENT', 'received', n, now() FROM kept
ON CONFLICT (id) DO UPDATE SET $SNAPSHOT_UPDATE;
SQL
}

pg_rate() { # $1 = full | audit; prints events/s
  psql "$PG_URL" -qc "set client_min_messages = warning" -c "drop database if exists $DB with (force)" -c "create database $DB"
  CREATORFLOW__DATABASE__URL="$PG_SERVER/$DB" "$BIN" migrate up >/dev/null 2>&1
  psql "$PG_SERVER/$DB" -qc "create sequence ceiling_seq" \
    -c "$(seed_sql "now()" "generate_series(0, $((ORDERS - 1))) g")" -c "vacuum analyze"
  pg_batch "$1" >"$WORK/batch.sql"
  pgbench -n -c "$WRITERS" -j "$WRITERS" -T "$SECONDS_PER_RUN" -f "$WORK/batch.sql" \
    "$PG_SERVER/$DB" >"$WORK/pgbench.txt" 2>&1 || { cat "$WORK/pgbench.txt"; exit 1; }
  awk -v b="$BATCH" '/^tps = /{print int($3 * b); exit}' "$WORK/pgbench.txt"
}

sqlite_rate() { # $1 = full | audit; prints events/s
  rm -f "$WORK"/ceiling.db*
  CREATORFLOW__DATABASE__URL="sqlite://$WORK/ceiling.db?mode=rwc" "$BIN" migrate up >/dev/null 2>&1
  local now="strftime('%Y-%m-%dT%H:%M:%f+00:00')"
  local numbers="WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g WHERE x < ?2 - 1), ids AS (SELECT CAST(1000000000 + ?1 + x AS TEXT) AS oid, ?3 + x AS n FROM g)"
  python3 - "$WORK/ceiling.db" "$SECONDS_PER_RUN" "$BATCH" "$ORDERS" "$1" <<PY
import random, sqlite3, sys, time
path, seconds, batch, orders, variant = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
db = sqlite3.connect(path, isolation_level=None)
db.execute("pragma journal_mode=wal"); db.execute("pragma synchronous=full")
db.execute("""$(seed_sql "$now" "(WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < $ORDERS - 1) SELECT g FROM s)")""")
statements = []
if variant == "full":
    statements += [
        """$numbers SELECT count(*) FROM webhook_inbox WHERE dedupe_key IN (SELECT 'ceiling:' || n FROM ids)""",
        """$numbers INSERT INTO webhook_inbox (dedupe_key, event_type, shop_id, order_id, received_at) SELECT 'ceiling:' || n, 1, '$SHOP', oid, $now FROM ids""",
        """$numbers INSERT INTO outbox (routing_key, payload, attempts, created_at) SELECT 'order.transition.received', $OUTBOX_PAYLOAD, 0, $now FROM ids""",
    ]
statements += [
    """$numbers INSERT INTO order_events ($EVENT_COLUMNS) SELECT oid, n, 'status_changed', 'ON_HOLD', 'AWAITING_SHIPMENT', 'received', 'received', 'webhook:ceiling:' || n, $EVENT_PAYLOAD, $now FROM ids""",
    """$numbers INSERT INTO orders ($SNAPSHOT_COLUMNS) SELECT oid, '$SHOP', $now, 'AWAITING_SHIPMENT', 'received', n, $now FROM ids WHERE true ON CONFLICT (id) DO UPDATE SET $SNAPSHOT_UPDATE""",
]
n, started = 0, time.time()
while time.time() - started < seconds:
    start = random.randint(0, orders - batch)
    db.execute("begin immediate")
    for statement in statements:
        db.execute(statement, (start, batch, n))
    db.execute("commit")
    n += batch
print(int(n / (time.time() - started)))
PY
}

echo "== the journal's rows, $BATCH events per transaction, generated in the database"
echo "PostgreSQL, $WRITERS connections: inbox + audit event + snapshot + outbox: $(pg_rate full) events/s"
echo "PostgreSQL, $WRITERS connections: audit event + snapshot only:           $(pg_rate audit) events/s"
echo "SQLite, one writer:              inbox + audit event + snapshot + outbox: $(sqlite_rate full) events/s"
echo "SQLite, one writer:              audit event + snapshot only:           $(sqlite_rate audit) events/s"
