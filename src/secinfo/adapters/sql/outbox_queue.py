"""The delivery side of the outbox: claim due messages with a lease, record outcomes.

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so many workers never take the same
row; SQLite has one writer, so the claim (one ``UPDATE … RETURNING``) is serialised
there and workers on one SQLite file take turns. A claimed row whose lease runs out
(its worker died) becomes claimable again: delivery is at-least-once. A worker's
heartbeat renews the leases it still holds (``extend_leases``), and an outcome is written
only while the claim that made the attempt still holds the row (its worker id and attempt
number), so a send that outlived its lease is never recorded twice.

An email's or SMS's destination is sealed like a code's body and wiped once the message
can never be sent again (sent or expired; dead when it carried a code, whose body is
wiped too): its masked form stays for the delivery log.

Every attempt leaves a row in ``delivery_attempts`` (time, outcome, provider message id
or error), written in the same transaction as the outcome on the message. An email or
SMS that ends ``dead`` also queues a ``delivery:dead_lettered`` webhook to every
endpoint subscribed to it, in that same transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.contacts_at_rest import scrubbed, unseal
from secinfo.adapters.sql.repositories import OUTBOX_DESTINATION, SqlOutbox, message_from_row
from secinfo.adapters.sql.tables import delivery_attempts, outbox
from secinfo.adapters.sql.webhooks import SqlWebhookEndpoints
from secinfo.domain.contacts import Channel
from secinfo.domain.model import MessageStatus, OutgoingMessage
from secinfo.domain.webhooks import DELIVERY_DEAD_LETTERED, dead_letter_payload
from secinfo.ports import Holder

RETRYABLE = (MessageStatus.QUEUED.value, MessageStatus.FAILED.value)
SENDING = MessageStatus.SENDING.value


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
                    sa.and_(outbox.c.status == SENDING, outbox.c.lease_until < now),
                )
            )
            .order_by(outbox.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        claim = (
            outbox.update()
            .where(outbox.c.id.in_(sa.select(due.c.id)))
            .values(
                status=SENDING,
                lease_until=lease_until,
                worker_id=worker_id,
                attempts=outbox.c.attempts + 1,
            )
            .returning(*outbox.c)
        )
        async with self.engine.begin() as connection:
            rows = (await connection.execute(claim)).all()
        messages: list[OutgoingMessage] = []
        for row in rows:
            try:
                messages.append(message_from_row(row, self.box))
            except (ValueError, InvalidTag):
                # Sealed with a key no longer configured: it can never be sent.
                await self.mark_failed(
                    row.id,
                    now,
                    "sealed body cannot be opened",
                    None,
                    holder=Holder(worker_id, row.attempts),
                )
        return sorted(messages, key=lambda message: message.next_attempt_at or now)

    async def extend_leases(
        self, message_ids: list[str], worker_id: str, lease_until: datetime
    ) -> int:
        if not message_ids:
            return 0
        async with self.engine.begin() as connection:
            result = await connection.execute(
                outbox.update()
                .where(
                    outbox.c.id.in_(message_ids),
                    outbox.c.status == SENDING,
                    outbox.c.worker_id == worker_id,
                )
                .values(lease_until=lease_until)
            )
        return int(result.rowcount or 0)

    async def mark_sent(
        self,
        message_id: str,
        now: datetime,
        provider_message_id: str,
        *,
        started_at: datetime | None = None,
        holder: Holder | None = None,
    ) -> None:
        await self._settle(
            message_id,
            now,
            started_at,
            "sent",
            holder=holder,
            final=True,
            provider=provider_message_id,
            status=MessageStatus.SENT.value,
            sent_at=now,
            provider_message_id=provider_message_id[:255],
            last_error=None,
        )

    async def mark_failed(
        self,
        message_id: str,
        now: datetime,
        error: str,
        retry_at: datetime | None,
        *,
        started_at: datetime | None = None,
        holder: Holder | None = None,
    ) -> None:
        if retry_at is None:
            await self._settle(
                message_id,
                now,
                started_at,
                "dead",
                holder=holder,
                final=True,
                error=error,
                status=MessageStatus.DEAD.value,
                last_error=error[:500],
            )
            return
        await self._settle(
            message_id,
            now,
            started_at,
            "failed",
            holder=holder,
            final=False,
            error=error,
            status=MessageStatus.FAILED.value,
            next_attempt_at=retry_at,
            last_error=error[:500],
        )

    async def mark_expired(
        self, message_id: str, now: datetime, *, holder: Holder | None = None
    ) -> None:
        await self._settle(
            message_id,
            now,
            None,
            "expired",
            holder=holder,
            final=True,
            status=MessageStatus.EXPIRED.value,
        )

    async def release(
        self, message_ids: list[str], now: datetime, *, worker_id: str | None = None
    ) -> None:
        if not message_ids:
            return
        held = [outbox.c.id.in_(message_ids), outbox.c.status == SENDING]
        if worker_id is not None:
            held.append(outbox.c.worker_id == worker_id)
        async with self.engine.begin() as connection:
            await connection.execute(
                outbox.update()
                .where(*held)
                .values(
                    status=sa.case(
                        (outbox.c.last_error.is_(None), MessageStatus.QUEUED.value),
                        else_=MessageStatus.FAILED.value,
                    ),
                    attempts=outbox.c.attempts - 1,
                    lease_until=None,
                    worker_id=None,
                    next_attempt_at=now,
                )
            )

    async def _settle(
        self,
        message_id: str,
        now: datetime,
        started_at: datetime | None,
        outcome: str,
        *,
        holder: Holder | None,
        final: bool,
        provider: str | None = None,
        error: str | None = None,
        **values: object,
    ) -> None:
        """Record an attempt's outcome on a message still being sent, and log the attempt,
        in one transaction. A message no longer ``sending``, or no longer held by
        ``holder`` (another worker took it over after our lease ran out, or it ended), is
        left as it is.

        A final state ends the lease and wipes a body that carried a code, and the
        destination of a message that cannot be sent again (a dead one without a code can
        be retried by an operator). An error is stored without the destination in it."""
        if final:
            values["body"] = sa.case((outbox.c.carries_secret, ""), else_=outbox.c.body)
            contact = outbox.c.channel != Channel.WEBHOOK.value
            wiped = contact if outcome != "dead" else sa.and_(contact, outbox.c.carries_secret)
            values["destination"] = sa.case((wiped, ""), else_=outbox.c.destination)
        still_held = [outbox.c.id == message_id, outbox.c.status == SENDING]
        if holder is not None:
            still_held += [
                outbox.c.worker_id == holder.worker_id,
                outbox.c.attempts == holder.attempt,
            ]
        async with self.engine.begin() as connection:
            if error is not None:
                error = await self._scrubbed(connection, message_id, error)
                if values.get("last_error") is not None:
                    values["last_error"] = error[:500]
            row = (
                await connection.execute(
                    outbox.update()
                    .where(*still_held)
                    .values(lease_until=None, **values)
                    .returning(
                        outbox.c.attempts,
                        outbox.c.worker_id,
                        outbox.c.channel,
                        outbox.c.destination_masked,
                        outbox.c.template,
                    )
                )
            ).first()
            if row is None:
                return
            if outcome == "dead" and row.channel != Channel.WEBHOOK.value:
                await self._dead_lettered(connection, message_id, row, now)
            attempt: dict[str, Any] = {
                "message_id": message_id,
                "attempt": row.attempts,
                "worker_id": row.worker_id,
                "started_at": started_at,
                "finished_at": now,
                "outcome": outcome,
                "provider_message_id": provider[:255] if provider else None,
                "error": error[:500] if error else None,
            }
            await connection.execute(delivery_attempts.insert().values(attempt))

    async def _scrubbed(self, connection: AsyncConnection, message_id: str, error: str) -> str:
        row = (
            await connection.execute(
                sa.select(outbox.c.channel, outbox.c.destination).where(outbox.c.id == message_id)
            )
        ).first()
        if row is None:
            return error
        try:
            destination = unseal(self.box, OUTBOX_DESTINATION, message_id, row.destination)
        except (ValueError, InvalidTag):
            return error  # sealed with a key no longer configured: nothing to scrub by
        return scrubbed(error, row.channel, destination)

    async def _dead_lettered(
        self, connection: AsyncConnection, message_id: str, row: Any, now: datetime
    ) -> None:
        """Queue ``delivery:dead_lettered`` for the endpoints that subscribe to it (never
        for a dead webhook: an endpoint that is down cannot hear about itself)."""
        endpoints = [
            endpoint
            for endpoint in await SqlWebhookEndpoints(connection, self.box).list_enabled()
            if endpoint.subscribes_to(DELIVERY_DEAD_LETTERED)
        ]
        if not endpoints:
            return
        body = dead_letter_payload(
            now,
            event_id=f"evt_{secrets.token_hex(16)}",
            message_id=message_id,
            channel=row.channel,
            template=row.template,
            masked_destination=row.destination_masked or "",
            attempts=row.attempts,
        )
        store = SqlOutbox(connection, self.box)
        for endpoint in endpoints:
            await store.add(
                OutgoingMessage(
                    id=f"msg_{secrets.token_hex(16)}",
                    channel=Channel.WEBHOOK,
                    destination=endpoint.id,
                    template=DELIVERY_DEAD_LETTERED,
                    locale="en",
                    subject="",
                    body=body,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
