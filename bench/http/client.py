"""The load generator: a lean HTTP/1.1 keep-alive client on asyncio, and a mailbox tail.

One connection per virtual user, no connection pool, no HTTP library: a request costs
the client tens of microseconds, so the client stays far from being the bottleneck
(each cell records the client's own CPU time to show it).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

CODE_PATTERNS = (re.compile(r"Your code is: (\S+)"), re.compile(r"#(\S+)\s*$"))


LOOK_BACK = 300


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


def code_in(body: str) -> str | None:
    for pattern in CODE_PATTERNS:
        found = pattern.search(body)
        if found:
            return found.group(1)
    return None


class MailboxTail:
    """Follows the development mailbox table and hands each code to whoever waits for it.

    One query every few milliseconds for all waiters together (rows after the last id
    seen), instead of one poll per pair: the bench reads where the service delivered,
    and adds little load of its own.
    """

    def __init__(self, database_url: str, interval: float = 0.002) -> None:
        self.database_url = database_url
        self.interval = interval
        self._waiters: dict[str, asyncio.Future[str]] = {}
        self._last_id = 0
        self._seen: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._pg: Any = None
        self._sqlite: sqlite3.Connection | None = None
        self.polls = 0

    async def start(self) -> None:
        if self.database_url.startswith("sqlite"):
            path = self.database_url.split("///", 1)[1]
            self._sqlite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        else:
            import asyncpg

            self._pg = await asyncpg.connect(self.database_url)
        rows = await self._query("SELECT coalesce(max(id), 0) FROM dev_mailbox", ())
        self._last_id = int(rows[0][0])
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pg is not None:
            await self._pg.close()
        if self._sqlite is not None:
            self._sqlite.close()

    def expect(self, destination: str) -> asyncio.Future[str]:
        """Register before the request that sends the code: delivery may beat the answer."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters[destination] = future
        self._wake.set()
        return future

    def forget(self, destination: str) -> None:
        self._waiters.pop(destination, None)

    async def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._sqlite is not None:
            return self._sqlite.execute(sql.replace("$1", "?"), params).fetchall()
        return [tuple(row) for row in await self._pg.fetch(sql, *params)]

    async def _run(self) -> None:
        while True:
            if not self._waiters:
                self._wake.clear()
                await self._wake.wait()
            # Ids are handed out at insert but rows appear at commit, so with concurrent
            # delivery a lower id can show up after a higher one: look back a little.
            rows = await self._query(
                "SELECT id, destination, body FROM dev_mailbox WHERE id > $1 ORDER BY id",
                (self._last_id - LOOK_BACK,),
            )
            self.polls += 1
            for row_id, destination, body in rows:
                if row_id in self._seen:
                    continue
                self._seen.add(row_id)
                self._last_id = max(self._last_id, int(row_id))
                future = self._waiters.pop(destination, None)
                code = code_in(body)
                if future is not None and not future.done() and code is not None:
                    future.set_result(code)
            if len(self._seen) > 4 * LOOK_BACK:
                self._seen = {i for i in self._seen if i > self._last_id - LOOK_BACK}
            await asyncio.sleep(self.interval)


def cpu_seconds() -> float:
    return time.process_time()
