"""Operator queries on the outbox: list, show (with attempts), retry, purge.

Never returns a message body: only whether it is sealed, wiped or plain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.tables import delivery_attempts, outbox
from secinfo.domain.model import MessageStatus

FINAL = (MessageStatus.SENT.value, MessageStatus.DEAD.value, MessageStatus.EXPIRED.value)
SUMMARY_COLUMNS = [column for column in outbox.c if column.name != "body"]


@dataclass(frozen=True)
class MessageSummary:
    id: str
    channel: str
    destination: str
    template: str
    locale: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    provider_message_id: str | None
    verification_id: str | None
    carries_secret: bool
    worker_id: str | None
    lease_until: datetime | None
    expires_at: datetime | None
    subject: str
    body_state: str


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    worker_id: str | None
    started_at: datetime | None
    finished_at: datetime
    outcome: str
    provider_message_id: str | None
    error: str | None


@dataclass(frozen=True)
class RetryResult:
    requeued: list[str]
    refused: dict[str, str]


def _summary(row: Any) -> MessageSummary:
    values = dict(row._mapping)
    body = values.pop("body_text", "")
    if not body:
        state = "wiped" if values["carries_secret"] else "empty"
    else:
        state = "sealed" if SecretBox.is_sealed(body) else "plain"
    return MessageSummary(**{field: values[field] for field in _FIELDS}, body_state=state)


_FIELDS = [name for name in MessageSummary.__dataclass_fields__ if name != "body_state"]


class SqlOutboxAdmin:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _select(self) -> sa.Select[Any]:
        return sa.select(*SUMMARY_COLUMNS, outbox.c.body.label("body_text"))

    async def list_messages(
        self, *, status: str | None = None, channel: str | None = None, limit: int = 50
    ) -> list[MessageSummary]:
        query = self._select().order_by(outbox.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(outbox.c.status == status)
        if channel:
            query = query.where(outbox.c.channel == channel)
        async with self.engine.connect() as connection:
            return [_summary(row) for row in await connection.execute(query)]

    async def counts(self) -> dict[str, int]:
        query = sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
        async with self.engine.connect() as connection:
            return {row[0]: int(row[1]) for row in await connection.execute(query)}

    async def get(self, message_id: str) -> tuple[MessageSummary, list[AttemptRecord]] | None:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(self._select().where(outbox.c.id == message_id))
            ).first()
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
        async with self.engine.begin() as connection:
            rows = await connection.execute(
                sa.select(outbox.c.id, outbox.c.status, outbox.c.body).where(
                    outbox.c.id.in_(message_ids)
                )
            )
            found = {row.id: row for row in rows}
            for message_id in message_ids:
                row = found.get(message_id)
                if row is None:
                    refused[message_id] = "no such message"
                elif row.status not in (MessageStatus.DEAD.value, MessageStatus.FAILED.value):
                    refused[message_id] = f"it is {row.status}; only dead or failed ones retry"
                elif not row.body:
                    refused[message_id] = "its code was wiped; a new code must be requested"
                else:
                    requeued.append(message_id)
            if requeued:
                await connection.execute(
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
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(outbox.c.id).where(outbox.c.status == MessageStatus.DEAD.value)
            )
            return [row.id for row in rows]

    async def purge(self, before: datetime, statuses: tuple[str, ...] = FINAL) -> int:
        """Delete ended messages created before ``before``, with their attempt records."""
        final = [status for status in statuses if status in FINAL]
        old = sa.select(outbox.c.id).where(outbox.c.created_at < before, outbox.c.status.in_(final))
        async with self.engine.begin() as connection:
            await connection.execute(
                delivery_attempts.delete().where(delivery_attempts.c.message_id.in_(old))
            )
            result = await connection.execute(
                outbox.delete().where(outbox.c.created_at < before, outbox.c.status.in_(final))
            )
        return int(result.rowcount)
