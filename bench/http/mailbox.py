"""The mailbox tail: how the load generator reads each code where the service delivered it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from typing import Any

CODE_PATTERNS = (re.compile(r"Your code is: (\S+)"), re.compile(r"#(\S+)\s*$"))


# A mailbox id handed out but not yet seen (its transaction had not committed when the
# tail last read, or it rolled back) is looked for again for this long.
GAP_SECONDS = 2.0


def code_in(body: str) -> str | None:
    for pattern in CODE_PATTERNS:
        found = pattern.search(body)
        if found:
            return found.group(1)
    return None


class MailboxTail:
    """Follows the development mailbox table and hands each code to whoever waits for it.

    One query every few milliseconds for all waiters together (rows after the last id
    seen, and any missing below it), instead of one poll per pair: the bench reads where
    the service delivered, and adds little load of its own.
    """

    def __init__(self, database_url: str, interval: float = 0.002) -> None:
        self.database_url = database_url
        self.interval = interval
        self._waiters: dict[str, asyncio.Future[str]] = {}
        self._last_id = 0
        self._gaps: dict[int, float] = {}  # ids below _last_id not seen yet: when noticed
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._pg: Any = None
        self._sqlite: sqlite3.Connection | None = None
        self.rows_read = 0

    async def start(self, *, follow: bool = True) -> None:
        """Connect and start after the newest row; ``follow=False``: polls only by
        :meth:`poll` (tests)."""
        if self.database_url.startswith("sqlite"):
            path = self.database_url.split("///", 1)[1]
            self._sqlite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        else:
            import asyncpg

            self._pg = await asyncpg.connect(self.database_url)
        rows = await self._query("SELECT coalesce(max(id), 0) FROM dev_mailbox", ())
        self._last_id = int(rows[0][0])
        if follow:
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
            await self.poll()
            await asyncio.sleep(self.interval)

    async def poll(self) -> None:
        """Read the rows after the last id seen and any below it still missing.

        Ids are handed out at insert but rows appear at commit, so with concurrent
        delivery a lower id can show up after a higher one: each id skipped is looked
        for again (from the lowest one missing) until it shows up or ``GAP_SECONDS``
        pass (a rolled-back insert leaves a gap for good). Only rows from the lowest
        missing id on are read again, and none once nothing is missing: a poll costs the
        database what is new, not a window of bodies.
        """
        now = time.monotonic()
        for gap in [gap for gap, noticed in self._gaps.items() if now - noticed > GAP_SECONDS]:
            del self._gaps[gap]
        after = min(self._gaps) - 1 if self._gaps else self._last_id
        rows = await self._query(
            "SELECT id, destination, body FROM dev_mailbox WHERE id > $1 ORDER BY id", (after,)
        )
        self.rows_read += len(rows)
        for row_id, destination, body in rows:
            row_id = int(row_id)
            if row_id > self._last_id:
                for gap in range(self._last_id + 1, row_id):
                    self._gaps[gap] = now
                self._last_id = row_id
            elif self._gaps.pop(row_id, None) is None:
                continue  # seen before
            future = self._waiters.pop(destination, None)
            code = code_in(body)
            if future is not None and not future.done() and code is not None:
                future.set_result(code)
