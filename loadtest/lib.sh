# Shared by the load-test scripts (sourced): the daemon under test. Expects BIN and PORT.

# wait_ready PORT LOG: waits (up to 20 s) until the daemon on PORT is ready; else shows its
# output (LOG) and fails.
wait_ready() {
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the daemon on port $1 did not become ready; its output:" >&2
  cat "$2" >&2
  return 1
}

# Starts `creatorflow serve` in the background, its output in $1, and waits until it is ready;
# sets DAEMON to its pid.
start_daemon() {
  # Something already listening there (a daemon left by an earlier run) would answer wait_ready
  # and be measured in place of this one.
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "port $PORT is already in use (a daemon left running?); stop it or set PORT" >&2
    return 1
  fi
  "$BIN" serve >"$1" 2>&1 &
  DAEMON=$!
  wait_ready "$PORT" "$1"
}

# Stops the daemon started by start_daemon, if any, and waits for it to exit.
stop_daemon() {
  if [[ -n "${DAEMON:-}" ]]; then
    kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null || true
  fi
  DAEMON=
}

# CPU seconds (user + system) of the processes whose pids are given, with what their exited
# children used (from /proc: utime, stime, cutime, cstime). Taken before and after a run over
# PostgreSQL's processes, the difference counts a process that exited meanwhile (an autovacuum
# worker, a closed connection): the postmaster adds its CPU to its own children's total.
cpu_of() {
  local ticks=0 pid stat
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    ticks=$((ticks + $(awk '{print $12 + $13 + $14 + $15}' <<<"$stat")))
  done
  python3 -c "print($ticks / $(getconf CLK_TCK))"
}

# thread_ticks PID: one line per thread of PID, "name ticks" (user + system, in clock ticks), for
# the daemon's CPU by thread (its threads are named: cf-http, cf-engine, cf-shard-N, the main
# thread by the binary's name).
thread_ticks() {
  local task stat
  for task in /proc/"$1"/task/*; do
    stat=$(cat "$task/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    echo "$(tr ' ' _ <"$task/comm") $(awk '{print $12 + $13}' <<<"$stat")"
  done
}

# runqueue_wait PID: nanoseconds the threads of PID have spent runnable but waiting for a CPU
# (/proc/PID/task/*/schedstat, second field): on a saturated machine, the latency a request
# gains while its thread waits its turn.
runqueue_wait() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ns += $2} END {printf "%d\n", ns}'
}

# steal_and_total: the machine's CPU ticks stolen by the hypervisor and all its ticks, from
# /proc/stat ("steal total").
steal_and_total() {
  awk '/^cpu /{t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t}' /proc/stat
}
