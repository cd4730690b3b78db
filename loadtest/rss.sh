#!/usr/bin/env bash
# Samples a process's resident memory every 10 s until it exits: `./rss.sh PID`.
# A soak passes when the figures level off instead of climbing.
set -euo pipefail
pid=${1:?usage: rss.sh PID}
while kill -0 "$pid" 2>/dev/null; do
  printf '%s %s KiB\n' "$(date +%H:%M:%S)" "$(ps -o rss= -p "$pid" | tr -d ' ')"
  sleep 10
done
