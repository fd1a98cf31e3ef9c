"""The delivery side of the outbox: claim due messages with a lease, record outcomes.

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so many workers never take the same
row; SQLite has one writer, so the same statement is safe there too. A claimed row
whose lease runs out (its worker died) becomes claimable again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.repositories import message_from_row
from secinfo.adapters.sql.tables import outbox
from secinfo.domain.model import MessageStatus, OutgoingMessage

RETRYABLE = (MessageStatus.QUEUED.value, MessageStatus.FAILED.value)


class SqlOutboxQueue:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self.engine = engine
        self.box = box

    async def claim_due(
        self, now: datetime, limit: int, lease_seconds: float, worker_id: str
    ) -> list[OutgoingMessage]:
        lease_until = now + timedelta(seconds=lease_seconds)
        due = (
            sa.select(outbox.c.id)
            .where(
                sa.or_(
                    sa.and_(outbox.c.status.in_(RETRYABLE), outbox.c.next_attempt_at <= now),
                    sa.and_(
                        outbox.c.status == MessageStatus.SENDING.value,
                        outbox.c.lease_until < now,
                    ),
                )
            )
            .order_by(outbox.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            outbox.update()
            .where(outbox.c.id.in_(due.scalar_subquery()))
            .values(
                status=MessageStatus.SENDING.value,
                lease_until=lease_until,
                worker_id=worker_id,
                attempts=outbox.c.attempts + 1,
            )
            .returning(*outbox.c)
        )
        async with self.engine.begin() as connection:
            rows = (await connection.execute(claim)).all()
        return [message_from_row(row, self.box) for row in rows]

    async def mark_sent(self, message_id: str, now: datetime, provider_message_id: str) -> None:
        await self._finish(
            message_id,
            status=MessageStatus.SENT.value,
            sent_at=now,
            provider_message_id=provider_message_id[:255],
            last_error=None,
        )

    async def mark_failed(
        self, message_id: str, now: datetime, error: str, retry_at: datetime | None
    ) -> None:
        if retry_at is None:
            await self._finish(message_id, status=MessageStatus.DEAD.value, last_error=error[:500])
            return
        async with self.engine.begin() as connection:
            await connection.execute(
                outbox.update()
                .where(outbox.c.id == message_id)
                .values(
                    status=MessageStatus.FAILED.value,
                    next_attempt_at=retry_at,
                    lease_until=None,
                    last_error=error[:500],
                )
            )

    async def mark_expired(self, message_id: str, now: datetime) -> None:
        await self._finish(message_id, status=MessageStatus.EXPIRED.value)

    async def _finish(self, message_id: str, **values: object) -> None:
        """A final state: the lease ends and a body that carried a code is wiped."""
        async with self.engine.begin() as connection:
            await connection.execute(
                outbox.update()
                .where(outbox.c.id == message_id)
                .values(
                    lease_until=None,
                    body=sa.case((outbox.c.carries_secret, ""), else_=outbox.c.body),
                    **values,
                )
            )
