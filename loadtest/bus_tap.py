#!/usr/bin/env python3
"""A tap on the daemon's RabbitMQ exchange, to count what the relays published: for
loadtest/cluster.sh.

Usage:
  bus_tap.py URL PREFIX open          declares `<PREFIX>.events` as the daemon does (topic,
                                      durable) and a queue `<PREFIX>.tap` bound to `#`
  bus_tap.py URL PREFIX count         prints the messages waiting in the tap
  bus_tap.py URL PREFIX drain OUT     takes every message from the tap and writes one line per
                                      message to OUT: `<message id>\t<routing key>`
  bus_tap.py URL PREFIX remove NAME…  deletes the tap, the queues `<PREFIX>.<NAME>`, the
                                      dead-letter queue and both exchanges

Needs pika (`pip install pika`).
"""

import sys

import pika

url, prefix, command = sys.argv[1], sys.argv[2], sys.argv[3]
tap = f"{prefix}.tap"
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()

if command == "open":
    channel.exchange_declare(f"{prefix}.events", exchange_type="topic", durable=True)
    channel.queue_declare(tap, durable=True)
    channel.queue_bind(tap, f"{prefix}.events", routing_key="#")
elif command == "count":
    print(channel.queue_declare(tap, passive=True).method.message_count)
elif command == "drain":
    channel.basic_qos(prefetch_count=2000)
    with open(sys.argv[4], "w") as out:
        # Every message is in the queue already: a second without one means the tap is empty.
        for method, properties, _body in channel.consume(tap, auto_ack=True, inactivity_timeout=1):
            if method is None:
                break
            out.write(f"{properties.message_id}\t{method.routing_key}\n")
    channel.cancel()
elif command == "remove":
    for queue in [tap, f"{prefix}.dead"] + [f"{prefix}.{name}" for name in sys.argv[4:]]:
        channel.queue_delete(queue)
    for exchange in ("events", "dlx"):
        channel.exchange_delete(f"{prefix}.{exchange}")
else:
    sys.exit(f"unknown command {command!r}: open, count, drain or remove")
connection.close()
