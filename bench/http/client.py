"""The load generator: a lean HTTP/1.1 keep-alive client on asyncio.

One connection per virtual user, no connection pool, no HTTP library: a request costs
the client tens of microseconds, so the client stays far from being the bottleneck
(each cell records the client's own CPU time to show it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson


class HttpError(Exception):
    """The connection broke or the response could not be read."""


@dataclass
class Response:
    status: int
    body: bytes
    retry_after: str | None = None

    def json(self) -> Any:
        return orjson.loads(self.body)


class Connection:
    """One keep-alive HTTP/1.1 connection; requests are sent one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._host_header = f"host: {host}:{port}\r\n".encode()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        body: object = None,
        token: str | None = None,
        *,
        form: dict[str, str] | None = None,
        basic: str | None = None,
    ) -> Response:
        """JSON ``body`` with a Bearer ``token``, or (the Twilio-compatible API) a
        form-encoded ``form`` with HTTP Basic ``basic`` (already base64)."""
        if form is not None:
            payload = urlencode(form).encode()
        else:
            payload = b"" if body is None else orjson.dumps(body)
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), self._host_header]
        if token:
            head.append(f"authorization: Bearer {token}\r\n".encode())
        if basic:
            head.append(f"authorization: Basic {basic}\r\n".encode())
        if form is not None:
            head.append(b"content-type: application/x-www-form-urlencoded\r\n")
        elif body is not None:
            head.append(b"content-type: application/json\r\n")
        head.append(f"content-length: {len(payload)}\r\n\r\n".encode())
        try:
            reader, writer = await self._open()
            writer.write(b"".join(head) + payload)
            raw_head = await reader.readuntil(b"\r\n\r\n")
            status = int(raw_head[9:12])
            length = 0
            close = False
            retry_after = None
            for line in raw_head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif lowered == b"retry-after":
                    retry_after = value.strip().decode()
            data = await reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            self.close()
            raise HttpError(f"{type(e).__name__}: {e}") from None
        if close:
            self.close()
        return Response(status, data, retry_after)


def cpu_seconds() -> float:
    return time.process_time()
