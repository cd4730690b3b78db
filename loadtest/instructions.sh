#!/usr/bin/env bash
# The daemon's user-space instructions per acknowledged webhook, counted by valgrind's callgrind:
# a figure that repeats within ~3% from run to run, where the CPU time per webhook on this VM moves
# by 10-20% (docs/PERFORMANCE.md, session 40), so two builds can be told apart by a change of a
# few percent. `creatorflow serve` runs on a fresh PostgreSQL database under callgrind with
# counting off while it starts; counting is on while `creatorflow loadgen` sends N new-order and
# status-change webhooks and for 3 s after (the relay, the bus's consumers and the log's readers
# finish their part), then the counts are written to $OUT (read them with `callgrind_annotate
# --inclusive=yes $OUT.1`).
# Usage: loadtest/instructions.sh [webhooks=4000] [connections=32]
# Not counted: the kernel, cache misses, waiting. Under valgrind, sha2 takes its portable
# SHA-256 (the CPU's SHA instructions are not offered), and `rep stos`/`rep movs` count once per
# element, so signing and memset/memcpy weigh more here than in a `perf` profile.
# Needs: valgrind (apt-get install -y valgrind), PostgreSQL at $PG_URL, a release build (BIN).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-4000}
CONNECTIONS=${2:-32}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
BIN=${BIN:-target/release/creatorflow}
PORT=${PORT:-18182}
OUT=${OUT:-$(mktemp -d)/callgrind.out}
DB=cf_instructions

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install -y valgrind)" >&2; exit 1; }
[[ -x $BIN ]] || cargo build --release --bin creatorflow

export CREATORFLOW__TIKTOK__APP_KEY=compare_key CREATORFLOW__TIKTOK__APP_SECRET=compare_secret
export CREATORFLOW__WORKFLOW__ENABLED=false CREATORFLOW__LOG__LEVEL=warn
export CREATORFLOW__HTTP__LISTEN=127.0.0.1:$PORT CREATORFLOW__TIKTOK__POLL_INTERVAL=1h
export CREATORFLOW__DATABASE__URL=${PG_URL%/*}/$DB
psql "$PG_URL" -qc "drop database if exists $DB with (force)" -c "create database $DB" >/dev/null 2>&1

valgrind --tool=callgrind --instr-atstart=no --dump-instr=no --callgrind-out-file="$OUT" \
  "$BIN" serve >"$OUT.log" 2>&1 &
GRIND=$!
cleanup() {
  kill "$GRIND" 2>/dev/null && wait "$GRIND" 2>/dev/null || true
  psql "$PG_URL" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# Under valgrind the daemon starts ~50 times slower than it runs natively.
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$GRIND" 2>/dev/null || { cat "$OUT.log" >&2; exit 1; }
  sleep 1
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 ||
  { echo "the daemon under valgrind did not become ready in 300 s" >&2; cat "$OUT.log" >&2; exit 1; }

callgrind_control --instr=on "$GRIND" >/dev/null 2>&1
"$BIN" loadgen --url "http://127.0.0.1:$PORT" --events "$N" --orders $((N / 5)) \
  --concurrency "$CONNECTIONS" | tail -1
sleep 3
callgrind_control --instr=off "$GRIND" >/dev/null 2>&1
callgrind_control --dump "$GRIND" >/dev/null 2>&1

# The dump holds what was counted while counting was on; the file written at exit, nothing.
total=$(awk '/^totals:/ { sum += $2 } END { print sum + 0 }' "$OUT" "$OUT".[0-9]*)
python3 -c "print(f'{$total / $N:,.0f} instructions per webhook ($total over $N); counts in $OUT.1')"
