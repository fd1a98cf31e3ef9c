"""Receiving ends for the delivery benchmark, each run as its own process:

    python bench/delivery/sinks.py smtp PORT     an SMTP server that accepts and counts
    python bench/delivery/sinks.py http PORT     an SMS endpoint (Twilio-style answers)

Each prints ``count=<n>`` on a ``GET /count``-style query: for SMTP, the count is served
over HTTP on PORT+1 so the benchmark can ask how many arrived.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

RECEIVED = {"count": 0}


class CountingHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        RECEIVED["count"] += 1
        return "250 2.0.0 OK queued"


async def http_server(port: int, sms: bool) -> asyncio.Server:
    """A tiny HTTP/1.1 server with keep-alive: POST → 201 with a sid; GET → the count."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                head = request.decode("latin-1").split("\r\n")
                length = 0
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                if head[0].startswith("POST") and sms:
                    RECEIVED["count"] += 1
                    body = json.dumps({"sid": f"SM{RECEIVED['count']:032d}"}).encode()
                    status = "201 Created"
                else:
                    body = json.dumps({"count": RECEIVED["count"]}).encode()
                    status = "200 OK"
                writer.write(
                    f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def main(kind: str, port: int) -> None:
    if kind == "smtp":
        from aiosmtpd.smtp import SMTP

        loop = asyncio.get_running_loop()
        await loop.create_server(lambda: SMTP(CountingHandler()), "127.0.0.1", port)
        await http_server(port + 1, sms=False)
    else:
        await http_server(port, sms=True)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
