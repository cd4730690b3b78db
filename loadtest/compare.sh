#!/usr/bin/env bash
# CreatorFlow's webhook ingest beside the database's own single-row-insert rate, in one run on
# one machine, with the CPU each side spends per acknowledged webhook (from /proc):
#   (a) PostgreSQL: pgbench, one single-row INSERT per transaction, at 16, 64 and 256 clients
#       (its best counts), then wrk sending signed webhooks (a corpus from `creatorflow loadgen
#       --corpus`: new orders first, then their status changes) to `creatorflow serve` on
#       PostgreSQL at 256 and at 64 connections;
#       then pgbench once more at its best client count, which says whether the machine's speed
#       moved during the daemon's runs (a ratio against a faster later pgbench is printed too);
#       right after the daemon's run at 256 connections, the lean reference (loadtest/http-floor's
#       lean_ingest: the same verified, durable, deduplicated ingest and nothing else) on the
#       same corpus, and the daemon's rate and CPU as multiples of its;
#   (b) SQLite: the daemon on SQLite at 256 connections, beside one INSERT per fsynced
#       transaction from one writer.
# Usage: loadtest/compare.sh [seconds per run=15] [corpus size=600000] (the lean reference sends
# ~40,000 webhooks/s here: a corpus must outlast the run)
# The daemon's CPU per webhook is also split by its threads (cf-http, cf-engine, cf-shard-N, the
# main thread by the binary's name), from /proc/PID/task, and the time its threads spent runnable
# but waiting for a CPU (schedstat) beside the hypervisor's steal: on this 2-core machine the load
# generator, PostgreSQL and the daemon share the cores, and those waits are what p99 is made of.
# Each daemon run lasts the same seconds; the corpus must outlast it (the report says how many
# webhooks were repeated if not).
# Needs: a release build (built if missing), PostgreSQL at $PG_URL (user may create databases,
# server on this machine so its processes can be read in /proc), pgbench, wrk, python3.
# Set BIN to compare another build (LOADGEN_BIN: the build that writes the corpus); the daemon logs
# at `warn` unless CREATORFLOW__LOG__LEVEL says otherwise (`info` is its default).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${1:-15}
EVENTS=${2:-600000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
PG_SERVER=${PG_URL%/*}
BIN=${BIN:-target/release/creatorflow}
PORT=${PORT:-18181}
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
# The lean reference (LEAN= leaves it out): built once, in its own target folder.
if [[ ${LEAN-unset} == unset ]]; then
  cargo build --quiet --release --manifest-path loadtest/http-floor/Cargo.toml \
    --target-dir target/http-floor --bin lean_ingest
  LEAN=target/http-floor/release/lean_ingest
fi
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install -y wrk)" >&2; exit 1; }

export CREATORFLOW__TIKTOK__APP_KEY=compare_key CREATORFLOW__TIKTOK__APP_SECRET=compare_secret
export CREATORFLOW__WORKFLOW__ENABLED=false CREATORFLOW__LOG__LEVEL=${CREATORFLOW__LOG__LEVEL:-warn}
export CREATORFLOW__HTTP__LISTEN=127.0.0.1:$PORT CREATORFLOW__TIKTOK__POLL_INTERVAL=1h

# Starts the lean reference (loadtest/http-floor's lean_ingest) as start_daemon starts the daemon:
# on $CREATORFLOW__DATABASE__URL, with the daemon's app credentials, its output in $1.
start_lean() {
  "$LEAN" "$PORT" "$CREATORFLOW__DATABASE__URL" "$CREATORFLOW__TIKTOK__APP_KEY" \
    "$CREATORFLOW__TIKTOK__APP_SECRET" >"$1" 2>&1 &
  DAEMON=$!
  wait_ready "$PORT" "$1"
}

postgres_pids() { pgrep -x postgres || pgrep -f '^postgres: ' || true; }

# The CPU seconds (user + system) of the children on the last line of bash's `times` output
# in file $1 ("0m1.234s 0m0.567s").
children_seconds() {
  tail -1 "$1" | awk '{ t = 0; for (i = 1; i <= NF; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] } print t }'
}

# Runs `creatorflow serve` on $1 and sends it $EVENTS fresh webhooks from $2 connections with
# wrk; prints "rate p50 p99 daemon_us_per_webhook postgres_us_per_webhook waited_us steal_percent
# wrk_us_per_webhook by_thread".
daemon_run() {
  local url=$1 connections=$2
  CREATORFLOW__DATABASE__URL=$url "${STARTER:-start_daemon}" "$WORK/serve.log"
  "${LOADGEN_BIN:-$BIN}" loadgen --events "$EVENTS" --orders $((EVENTS / 5)) --corpus "$WORK/corpus.txt" 2>/dev/null
  local pg_before daemon_before
  # shellcheck disable=SC2046
  pg_before=$(cpu_of $(postgres_pids))
  daemon_before=$(cpu_of "$DAEMON")
  thread_ticks "$DAEMON" >"$WORK/threads.before"
  local wait_before steal_before
  wait_before=$(runqueue_wait "$DAEMON")
  steal_before=$(steal_and_total)
  # wrk's own CPU while it sends: `times` in the subshell prints its children's (wrk's) user and
  # system CPU on its second line (not in a pipeline: that would run it in a subshell of its own,
  # with no children), less what wrk spent before its "Running" line (each thread loading its
  # share of the corpus; `stdbuf -oL` makes that line appear when it is printed).
  (
    CORPUS=$WORK/corpus.txt THREADS=2 stdbuf -oL wrk -t2 -c"$connections" -d"${SECONDS_PER_RUN}s" -s loadtest/wrk.lua \
      "http://127.0.0.1:$PORT" >"$WORK/wrk.txt" 2>&1 &
    generator=$!
    until grep -q '^Running' "$WORK/wrk.txt" 2>/dev/null || ! kill -0 "$generator" 2>/dev/null; do sleep 0.05; done
    cpu_of "$generator" >"$WORK/wrk.loading"
    wait "$generator"
    times >"$WORK/wrk.times"
  )
  local daemon_after pg_after
  daemon_after=$(cpu_of "$DAEMON")
  thread_ticks "$DAEMON" >"$WORK/threads.after"
  local wait_after steal_after
  wait_after=$(runqueue_wait "$DAEMON")
  steal_after=$(steal_and_total)
  # shellcheck disable=SC2046
  pg_after=$(cpu_of $(postgres_pids))
  curl -s "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics.txt" || true
  stop_daemon
  python3 - "$WORK/wrk.txt" "$daemon_before" "$daemon_after" "$pg_before" "$pg_after" "$url" \
    "$WORK/threads.before" "$WORK/threads.after" "$(getconf CLK_TCK)" "$wait_before" "$wait_after" \
    "$steal_before" "$steal_after" "$(children_seconds "$WORK/wrk.times")" "$(cat "$WORK/wrk.loading")" "$WORK/metrics.txt" <<'PY'
import collections, sys
out = dict(l.split()[:2] for l in open(sys.argv[1]) if len(l.split()) == 2)
refused = int(out["refused"])
if refused:
    sys.exit(f"{refused} webhooks were not acknowledged")
if int(out["repeated"]):
    print(f"warning: {out['repeated']} webhooks repeated; use a larger corpus", file=sys.stderr)
n, s = int(out["requests"]), float(out["seconds"])
d = (float(sys.argv[3]) - float(sys.argv[2])) / n * 1e6
pg = (float(sys.argv[5]) - float(sys.argv[4])) / n * 1e6 if sys.argv[6].startswith("postgres") else 0
def ticks(path):
    by = collections.Counter()
    for line in open(path):
        name, _, t = line.rpartition(" ")
        by[name] += int(t)
    return by
before, after, hz = ticks(sys.argv[7]), ticks(sys.argv[8]), int(sys.argv[9])
threads = sorted(((after[k] - before[k]) / hz / n * 1e6, k) for k in after)
by_thread = ", ".join(f"{k} {us:.1f}" for us, k in reversed(threads) if us >= 0.05)
waited = (int(sys.argv[11]) - int(sys.argv[10])) / n / 1e3
(s0, t0), (s1, t1) = (map(int, a.split()) for a in sys.argv[12:14])
steal = 100 * (s1 - s0) / max(t1 - t0, 1)
generator = (float(sys.argv[14]) - float(sys.argv[15] or 0)) / n * 1e6
# The daemon's own answer times (its request histogram for the webhook route, from reading the
# request to writing the answer): the share within 10 and 25 ms, the issue's p99 thresholds.
buckets = {}
for line in open(sys.argv[16]):
    if line.startswith("creatorflow_http_request_duration_seconds_bucket") and 'route="/webhooks/tiktok"' in line:
        le = line.split('le="')[1].split('"')[0]
        buckets[le] = buckets.get(le, 0) + float(line.split()[-1])
total = buckets.get("+Inf", 0) or 1
within = lambda le: f"{100 * buckets.get(le, 0) / total:.2f}"
print(f"{n / s:.0f} {out['latency_p50_ms']} {out['latency_p99_ms']} {d:.1f} {pg:.1f} {waited:.1f} {steal:.0f} {generator:.1f} {within('0.01')} {within('0.025')} {by_thread}")
PY
}

# pgbench at $1 clients; prints "tps postgres_us_per_transaction pgbench_us_per_transaction": the
# CPU beside the rate says whether pgbench was bound by the disk's flushes or by the two cores.
pgbench_tps() {
  local pg_before pg_after
  # shellcheck disable=SC2046
  pg_before=$(cpu_of $(postgres_pids))
  (
    pgbench -n -c "$1" -j 2 -T "$SECONDS_PER_RUN" -f "$WORK/insert.sql" \
      "$PG_SERVER/cf_compare_pgbench" >"$WORK/pgbench.txt" 2>&1
    times >"$WORK/pgbench.times"
  )
  # pgbench's backends have exited: their CPU is the postmaster's children's (cpu_of counts it)
  # once the postmaster has reaped them.
  sleep 0.5
  # shellcheck disable=SC2046
  pg_after=$(cpu_of $(postgres_pids))
  python3 - "$WORK/pgbench.txt" "$pg_before" "$pg_after" "$(children_seconds "$WORK/pgbench.times")" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
tps = float(re.search(r"^tps = ([0-9.]+)", text, re.M).group(1))
done = int(re.search(r"number of transactions actually processed: ([0-9]+)", text).group(1))
client = float(sys.argv[4])
print(f"{int(tps)} {(float(sys.argv[3]) - float(sys.argv[2])) / done * 1e6:.1f} {client / done * 1e6:.1f}")
PY
}

fresh_database() {
  psql "$PG_URL" -qc "set client_min_messages = warning" -c "drop database if exists $1 with (force)" \
    -c "create database $1"
}

echo "== PostgreSQL"
fresh_database cf_compare_pgbench
psql "$PG_SERVER/cf_compare_pgbench" -qc \
  "create table events (id bigserial primary key, order_id text not null, payload jsonb not null, created_at timestamptz not null default now())"
cat >"$WORK/insert.sql" <<'SQL'
\set id random(1, 1000000000)
insert into events (order_id, payload) values (:id, '{"status": "AWAITING_SHIPMENT"}');
SQL
BEST=0
BEST_CLIENTS=16
MAX_CONNECTIONS=$(psql "$PG_URL" -Atc "show max_connections")
for clients in 16 64 256; do
  ((clients < MAX_CONNECTIONS - 5)) || continue
  read -r tps pg_us client_us < <(pgbench_tps "$clients")
  echo "pgbench, one single-row insert per transaction, $clients clients: $tps tps (CPU per transaction: PostgreSQL $pg_us µs, pgbench $client_us µs)"
  ((tps > BEST)) && BEST=$tps && BEST_CLIENTS=$clients
done
RATES=()
for connections in 256 64; do
  fresh_database cf_compare_daemon
  read -r RATE P50 P99 DAEMON_US PG_US WAITED STEAL WRK_US WITHIN10 WITHIN25 BY_THREAD < <(daemon_run "$PG_SERVER/cf_compare_daemon" "$connections")
  ((connections == 256)) && D_RATE=$RATE D_US=$DAEMON_US D_PG_US=$PG_US
  echo "creatorflow on PostgreSQL, $connections connections: $RATE webhooks/s (p50 $P50 ms, p99 $P99 ms); CPU per webhook: daemon $DAEMON_US µs ($BY_THREAD), PostgreSQL $PG_US µs"
  echo "  the daemon's own answer times: $WITHIN10% within 10 ms, $WITHIN25% within 25 ms (wrk's p99 adds its own and the kernel's queues, corrected for coordinated omission)"
  echo "  waiting for a CPU: daemon threads $WAITED µs per webhook; hypervisor steal $STEAL% of the machine"
  echo "  the load generator: wrk $WRK_US µs of CPU per webhook while it sends"
  python3 -c "print(f'ratio: {$RATE / $BEST:.2f}x pgbench at its best ($BEST tps)')"
  RATES+=("$connections:$RATE")
  ((connections == 256)) && [[ -n $LEAN ]] || continue
  # The lean reference right after the daemon's run at 256 connections, at the same speed: the
  # same corpus shape, wrk, PostgreSQL and credentials, with the least the same verified, durable,
  # deduplicated ingest needs (what it leaves out: lean_ingest.rs's notes).
  fresh_database cf_compare_daemon
  read -r RATE P50 P99 LEAN_US PG_US _ _ WRK_US _ _ BY_THREAD < <(STARTER=start_lean daemon_run "$PG_SERVER/cf_compare_daemon" 256)
  echo "the lean reference on PostgreSQL, 256 connections: $RATE webhooks/s (p50 $P50 ms, p99 $P99 ms); CPU per webhook: server $LEAN_US µs ($BY_THREAD), PostgreSQL $PG_US µs"
  echo "  the load generator: wrk $WRK_US µs of CPU per webhook while it sends"
  python3 -c "print(f'creatorflow against the lean reference: {$D_RATE / $RATE:.2f}x its rate, {$D_US / $LEAN_US:.2f}x its server CPU, {$D_PG_US / $PG_US:.2f}x its PostgreSQL CPU per webhook')"
done
# pgbench once more at its best client count, after the daemon's runs: on a shared VM the
# machine's speed can move within minutes (pgbench's best moved 9,987 -> 18,400 tps within one
# session), and a ratio is only as good as the two rates being taken at the same speed.
read -r AFTER _ _ < <(pgbench_tps "$BEST_CLIENTS")
echo "pgbench again after the daemon's runs, $BEST_CLIENTS clients: $AFTER tps (before: $BEST)"
if ((AFTER > BEST)); then
  for entry in "${RATES[@]}"; do
    python3 -c "print(f'ratio against the later, faster pgbench, ${entry%%:*} connections: {${entry#*:} / $AFTER:.2f}x')"
  done
fi

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
read -r RATE P50 P99 DAEMON_US _ WAITED STEAL WRK_US WITHIN10 WITHIN25 BY_THREAD < <(daemon_run "sqlite://$WORK/daemon.db?mode=rwc" 256)
echo "sqlite3, one single-row insert per fsynced transaction: $SQLITE_TPS tps"
echo "creatorflow on SQLite, 256 connections: $RATE webhooks/s (p50 $P50 ms, p99 $P99 ms); CPU per webhook: daemon $DAEMON_US µs ($BY_THREAD)"
echo "  the daemon's own answer times: $WITHIN10% within 10 ms, $WITHIN25% within 25 ms"
echo "  waiting for a CPU: daemon threads $WAITED µs per webhook; hypervisor steal $STEAL% of the machine"
echo "  the load generator: wrk $WRK_US µs of CPU per webhook while it sends"
