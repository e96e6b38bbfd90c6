#!/usr/bin/env python3
"""A TCP proxy on loopback that holds every piece of data it forwards for
DELAY seconds in each direction, so a request costs a real network's round
trip (the kernel's netem is not available here).

    delay_proxy.py LISTEN_PORT TARGET_PORT [DELAY_SECONDS=0.01]

Bytes keep flowing while earlier pieces wait (a delay line, not a
stop-and-wait), as on a long link with a large window.
"""
import asyncio
import sys
import time


async def pipe(reader, writer, delay):
    queue = asyncio.Queue()

    async def sender():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    task = asyncio.create_task(sender())
    try:
        while True:
            data = await reader.read(1 << 20)
            if not data:
                break
            await queue.put((time.monotonic() + delay, data))
    except (ConnectionError, OSError):
        pass
    await queue.put((0, None))
    await task


async def handle(client_reader, client_writer, target_port, delay):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer, delay), pipe(server_reader, client_writer, delay))
    for w in (client_writer, server_writer):
        w.close()


async def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.01
    server = await asyncio.start_server(lambda r, w: handle(r, w, target, delay), "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
