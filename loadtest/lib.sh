# Shared by the load-test scripts (sourced): the daemon under test. Expects BIN and PORT.

# Starts `creatorflow serve` in the background, its output in $1, and waits until it is ready;
# sets DAEMON to its pid.
start_daemon() {
  "$BIN" serve >"$1" 2>&1 &
  DAEMON=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the daemon did not become ready; its output:" >&2
  cat "$1" >&2
  return 1
}

# Stops the daemon started by start_daemon, if any, and waits for it to exit.
stop_daemon() {
  if [[ -n "${DAEMON:-}" ]]; then
    kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null || true
  fi
  DAEMON=
}
