#!/usr/bin/env python3
"""Sends a corpus of signed webhooks to several nodes, as a load balancer would, and keeps which
were acknowledged: for loadtest/cluster.sh.

Usage: cluster_send.py CORPUS ACKED_OUT PORT[,PORT...] [threads=16]

CORPUS is `creatorflow loadgen --corpus` output (`<Authorization>\t<body>` per line). Each
thread takes the next line and sends it to the next node in turn; a refused request (no
connection, 5xx, timeout) goes to the next node, again and again for up to 30 s, as TikTok
retries. Only a 200 counts as acknowledged: its notification id is written to ACKED_OUT. At
the end one JSON line: sent, acknowledged, retried, given up, elapsed, and latency percentiles.
"""

import http.client
import json
import sys
import threading
import time

corpus_path, acked_path, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3].split(",")]
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 16
lines = open(corpus_path).read().splitlines()
lock = threading.Lock()
state = {"next": 0, "acked": [], "retried": 0, "given_up": 0, "latencies": []}


def take():
    with lock:
        i = state["next"]
        state["next"] += 1
        return i if i < len(lines) else None


def send(worker):
    connections = {}
    turn = worker
    while (i := take()) is not None:
        signature, body = lines[i].split("\t", 1)
        notification = json.loads(body)["tts_notification_id"]
        deadline = time.monotonic() + 30
        started = time.monotonic()
        while True:
            port = ports[turn % len(ports)]
            turn += 1
            try:
                conn = connections.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connections[port] = conn
                conn.request("POST", "/webhooks/tiktok", body,
                             {"Authorization": signature, "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    with lock:
                        state["acked"].append(notification)
                        state["latencies"].append(time.monotonic() - started)
                    break
            except (OSError, http.client.HTTPException):
                connections.pop(port, None)
            with lock:
                state["retried"] += 1
            if time.monotonic() > deadline:
                with lock:
                    state["given_up"] += 1
                break
            time.sleep(0.05)


started = time.monotonic()
workers = [threading.Thread(target=send, args=(w,)) for w in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
elapsed = time.monotonic() - started
with open(acked_path, "w") as out:
    out.write("\n".join(state["acked"]) + "\n")
latencies = sorted(state["latencies"])


def pct(p):
    return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 1) if latencies else None


print(json.dumps({
    "sent": len(lines), "acknowledged": len(state["acked"]), "retried": state["retried"],
    "given_up": state["given_up"], "seconds": round(elapsed, 1),
    "rate": round(len(state["acked"]) / elapsed), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
    "max_ms": pct(1.0),
}))
