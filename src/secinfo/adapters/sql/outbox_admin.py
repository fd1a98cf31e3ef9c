"""Operator queries on the outbox: list, show (with attempts), retry, purge.

Never returns a message body (only whether it is sealed, wiped or plain), nor a contact:
an email's or SMS's destination is its masked form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.tables import delivery_attempts, outbox
from secinfo.domain.model import MessageStatus
from secinfo.ports import NO_SUCH_MESSAGE, MessageSummary, RetryResult

FINAL = (MessageStatus.SENT.value, MessageStatus.DEAD.value, MessageStatus.EXPIRED.value)
SUMMARY_COLUMNS = [
    column
    for column in outbox.c
    if column.name not in ("body", "destination", "destination_key", "destination_masked")
]


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    worker_id: str | None
    started_at: datetime | None
    finished_at: datetime
    outcome: str
    provider_message_id: str | None
    error: str | None


def _summary(row: Any) -> MessageSummary:
    values = dict(row._mapping)
    body = values.pop("body_text", "")
    if not body:
        state = "wiped" if values["carries_secret"] else "empty"
    else:
        state = "sealed" if SecretBox.is_sealed(body) else "plain"
    return MessageSummary(**{field: values[field] for field in _FIELDS}, body_state=state)


_FIELDS = [name for name in MessageSummary.__dataclass_fields__ if name != "body_state"]


class SqlOutboxLog:
    """The operator queries on one connection (the unit of work's transaction)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    def _select(self) -> sa.Select[Any]:
        shown = sa.func.coalesce(outbox.c.destination_masked, outbox.c.destination)
        return sa.select(
            *SUMMARY_COLUMNS, shown.label("destination"), outbox.c.body.label("body_text")
        )

    async def list_messages(
        self, *, status: str | None = None, channel: str | None = None, limit: int = 50
    ) -> list[MessageSummary]:
        query = self._select().order_by(outbox.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(outbox.c.status == status)
        if channel:
            query = query.where(outbox.c.channel == channel)
        return [_summary(row) for row in await self.connection.execute(query)]

    async def counts(self) -> dict[str, int]:
        query = sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
        return {row[0]: int(row[1]) for row in await self.connection.execute(query)}

    async def get(self, message_id: str) -> tuple[MessageSummary, list[AttemptRecord]] | None:
        connection = self.connection
        row = (await connection.execute(self._select().where(outbox.c.id == message_id))).first()
        if row is None:
            return None
        attempts = await connection.execute(
            sa.select(
                delivery_attempts.c.attempt,
                delivery_attempts.c.worker_id,
                delivery_attempts.c.started_at,
                delivery_attempts.c.finished_at,
                delivery_attempts.c.outcome,
                delivery_attempts.c.provider_message_id,
                delivery_attempts.c.error,
            )
            .where(delivery_attempts.c.message_id == message_id)
            .order_by(delivery_attempts.c.id)
        )
        return _summary(row), [AttemptRecord(**dict(a._mapping)) for a in attempts]

    async def retry(self, message_ids: list[str], now: datetime) -> RetryResult:
        """Queue dead or failed messages again now, with a fresh attempt budget.

        A message that carried a code and ended has had its body wiped: it cannot be
        sent again (the person asks for a new code instead)."""
        requeued: list[str] = []
        refused: dict[str, str] = {}
        rows = await self.connection.execute(
            sa.select(outbox.c.id, outbox.c.status, outbox.c.body).where(
                outbox.c.id.in_(message_ids)
            )
        )
        found = {row.id: row for row in rows}
        for message_id in message_ids:
            row = found.get(message_id)
            if row is None:
                refused[message_id] = NO_SUCH_MESSAGE
            elif row.status not in (MessageStatus.DEAD.value, MessageStatus.FAILED.value):
                refused[message_id] = f"it is {row.status}; only dead or failed ones retry"
            elif not row.body:
                refused[message_id] = "its code was wiped; a new code must be requested"
            else:
                requeued.append(message_id)
        if requeued:
            await self.connection.execute(
                outbox.update()
                .where(outbox.c.id.in_(requeued))
                .values(
                    status=MessageStatus.QUEUED.value,
                    attempts=0,
                    next_attempt_at=now,
                    lease_until=None,
                )
            )
        return RetryResult(requeued, refused)

    async def dead_ids(self) -> list[str]:
        rows = await self.connection.execute(
            sa.select(outbox.c.id).where(outbox.c.status == MessageStatus.DEAD.value)
        )
        return [row.id for row in rows]

    async def purge(self, before: datetime, statuses: tuple[str, ...] = FINAL) -> int:
        """Delete ended messages created before ``before``, with their attempt records."""
        final = [status for status in statuses if status in FINAL]
        old = sa.select(outbox.c.id).where(outbox.c.created_at < before, outbox.c.status.in_(final))
        await self.connection.execute(
            delivery_attempts.delete().where(delivery_attempts.c.message_id.in_(old))
        )
        result = await self.connection.execute(
            outbox.delete().where(outbox.c.created_at < before, outbox.c.status.in_(final))
        )
        return int(result.rowcount)


class SqlOutboxAdmin:
    """The same queries for the CLI: each in a connection (a transaction) of its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def list_messages(
        self, *, status: str | None = None, channel: str | None = None, limit: int = 50
    ) -> list[MessageSummary]:
        async with self.engine.connect() as connection:
            return await SqlOutboxLog(connection).list_messages(
                status=status, channel=channel, limit=limit
            )

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as connection:
            return await SqlOutboxLog(connection).counts()

    async def get(self, message_id: str) -> tuple[MessageSummary, list[AttemptRecord]] | None:
        async with self.engine.connect() as connection:
            return await SqlOutboxLog(connection).get(message_id)

    async def retry(self, message_ids: list[str], now: datetime) -> RetryResult:
        async with self.engine.begin() as connection:
            return await SqlOutboxLog(connection).retry(message_ids, now)

    async def dead_ids(self) -> list[str]:
        async with self.engine.connect() as connection:
            return await SqlOutboxLog(connection).dead_ids()

    async def purge(self, before: datetime, statuses: tuple[str, ...] = FINAL) -> int:
        async with self.engine.begin() as connection:
            return await SqlOutboxLog(connection).purge(before, statuses)
