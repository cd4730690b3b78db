#!/usr/bin/env python3
"""Follows the live stream (`GET /api/v1/events?types=order`) across nodes as a dashboard would,
and writes down every event it gets: for loadtest/cluster.sh.

Usage: stream_follow.py API_KEY OUT PORT[,PORT...]

Reads the stream from the first node, from the log's start; when the stream ends, fails, or says
nothing for 3 s (a stopped node, one cut off from its database), it reconnects to the next node
with `Last-Event-ID` set to the last id it got, again and again, until SIGTERM. After 10 s on
one node it also moves on by itself, half a second later (as a balancer may move a client), so
that events go by while it is away and must be replayed. OUT gets a line per
event, `<event>\t<id>` (`order`, or `reset` / `dropped` with an empty id), written as it comes.
On SIGTERM one JSON line to stdout: connections made, events, resets, drops.
"""

import http.client
import json
import signal
import sys
import time

key, out_path, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3].split(",")]
state = {"connections": 0, "events": 0, "reset": 0, "dropped": 0}
# From the log's start: the first connection too replays what it missed, should it come late.
last_id = "0"


def stop(_signum, _frame):
    print(json.dumps(state), flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)


def follow(port, out):
    """Reads one connection's events until it ends or goes quiet."""
    global last_id
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    headers = {"authorization": f"Bearer {key}", "last-event-id": last_id}
    connection.request("GET", "/api/v1/events?types=order", headers=headers)
    response = connection.getresponse()
    if response.status != 200:
        connection.close()
        time.sleep(0.5)
        return
    state["connections"] += 1
    event, event_id = "message", None
    until = time.monotonic() + 10
    while time.monotonic() < until:
        line = response.readline()
        if not line:
            break
        line = line.decode().rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line == "":
            if event in ("order", "reset", "dropped"):
                out.write(f"{event}\t{event_id or ''}\n")
                out.flush()
                if event == "order":
                    state["events"] += 1
                    last_id = event_id
                else:
                    state[event] += 1
            event, event_id = "message", None
    connection.close()
    time.sleep(0.5)


with open(out_path, "w") as out:
    turn = 0
    while True:
        try:
            follow(ports[turn % len(ports)], out)
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
        turn += 1
