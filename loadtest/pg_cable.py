#!/usr/bin/env python3
"""A TCP relay between one node and PostgreSQL: for loadtest/cluster.sh's "cut off from
PostgreSQL" fault.

Usage: pg_cable.py LISTEN_PORT TARGET_HOST TARGET_PORT

Relays every connection made to 127.0.0.1:LISTEN_PORT to TARGET_HOST:TARGET_PORT, both ways.
The cut is a partition, not a refusal: `kill -STOP` of this process stops every byte in both
directions while the connections stay open (statements sent meanwhile wait in the socket
buffers, and reach the database when the cable is restored with `kill -CONT`, as after a
network partition heals: the fence must refuse what the node sent for slots it lost).
"""

import asyncio
import sys

listen_port, target_host, target_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def relay(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))


async def main():
    server = await asyncio.start_server(relay, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


asyncio.run(main())
