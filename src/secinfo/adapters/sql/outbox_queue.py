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

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.contacts_at_rest import scrubbed, unseal
from secinfo.adapters.sql.direct import Direct
from secinfo.adapters.sql.repositories import OUTBOX_DESTINATION, SqlOutbox, message_from_row
from secinfo.adapters.sql.tables import delivery_attempts, outbox
from secinfo.adapters.sql.webhooks import SqlWebhookEndpoints
from secinfo.domain.contacts import Channel
from secinfo.domain.model import MessageStatus, OutgoingMessage
from secinfo.domain.webhooks import DELIVERY_DEAD_LETTERED, dead_letter_payload
from secinfo.ports import Holder, SentOutcome

log = structlog.get_logger("secinfo.worker")
RETRYABLE = (MessageStatus.QUEUED.value, MessageStatus.FAILED.value)
SENDING = MessageStatus.SENDING.value


NOTIFY_CHANNEL = "secinfo_outbox"  # raised by the outbox_notify trigger (migration 0015)


# Sent rows, as long as the claim that sent each still holds it (same worker, attempt):
# the body wiped if it carried a code, an email's or SMS's sealed destination wiped.
SENT_FROM_ARRAYS = sa.text(
    """
    UPDATE outbox SET status = 'sent', sent_at = sent.finished_at,
        provider_message_id = sent.provider, last_error = NULL, lease_until = NULL,
        body = CASE WHEN outbox.carries_secret THEN '' ELSE outbox.body END,
        destination = CASE WHEN outbox.channel <> 'webhook' THEN '' ELSE outbox.destination END
    FROM unnest(
        CAST(:ids AS varchar[]), CAST(:workers AS varchar[]), CAST(:attempts AS integer[]),
        CAST(:providers AS varchar[]), CAST(:finished AS timestamptz[])
    ) AS sent(id, worker_id, attempt, provider, finished_at)
    WHERE outbox.id = sent.id AND outbox.status = 'sending'
        AND outbox.worker_id = sent.worker_id AND outbox.attempts = sent.attempt
    RETURNING outbox.id
    """
)


def _sent_by_case(by_id: dict[str, SentOutcome]) -> Any:
    """The same update where arrays are not at hand: per-row values by CASE on the id."""

    def per_row(value: Callable[[SentOutcome], object], column: sa.Column[Any]) -> Any:
        return sa.case(
            {
                message_id: sa.bindparam(None, value(outcome), type_=column.type)
                for message_id, outcome in by_id.items()
            },
            value=outbox.c.id,
        )

    return (
        outbox.update()
        .where(
            outbox.c.id.in_(list(by_id)),
            outbox.c.status == SENDING,
            outbox.c.worker_id == per_row(lambda o: o.holder.worker_id, outbox.c.worker_id),
            outbox.c.attempts == per_row(lambda o: o.holder.attempt, outbox.c.attempts),
        )
        .values(
            status=MessageStatus.SENT.value,
            sent_at=per_row(lambda o: o.finished_at, outbox.c.sent_at),
            provider_message_id=per_row(
                lambda o: o.provider_message_id[:255], outbox.c.provider_message_id
            ),
            last_error=None,
            lease_until=None,
            body=sa.case((outbox.c.carries_secret, ""), else_=outbox.c.body),
            destination=sa.case(
                (outbox.c.channel != Channel.WEBHOOK.value, ""), else_=outbox.c.destination
            ),
        )
        .returning(outbox.c.id)
    )


# The claim, built once (a statement built per call costs its construction and cache
# key on every claim): the due rows, oldest first, locked and skipped by other workers;
# run straight on the driver (adapters/sql/direct.py).
_DUE = (
    sa.select(outbox.c.id)
    .where(
        sa.or_(
            sa.and_(
                # Bound one by one, not as an expanding IN list, so the SQL is rendered once.
                outbox.c.status.in_([sa.literal(status) for status in RETRYABLE]),
                outbox.c.next_attempt_at <= sa.bindparam("p_now"),
            ),
            sa.and_(outbox.c.status == SENDING, outbox.c.lease_until < sa.bindparam("p_now")),
        )
    )
    .order_by(outbox.c.next_attempt_at)
    .limit(sa.bindparam("p_limit"))
    .with_for_update(skip_locked=True)
    .cte("due")
)
_CLAIM = (
    outbox.update()
    .where(outbox.c.id.in_(sa.select(_DUE.c.id)))
    .values(
        status=SENDING,
        lease_until=sa.bindparam("p_lease_until"),
        worker_id=sa.bindparam("p_worker_id"),
        attempts=outbox.c.attempts + 1,
    )
    .returning(*outbox.c)
)


class SqlOutboxQueue:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self.engine = engine
        self.box = box

    async def listen(self, wake: Callable[[], None], retry_seconds: float = 5.0) -> None:
        """PostgreSQL: ``LISTEN`` on a connection of its own (not one of the pool's) and
        call ``wake`` on every notification, until cancelled; reconnect after a failure
        (polling goes on meanwhile). SQLite cannot notify: return at once."""
        if self.engine.dialect.name != "postgresql":
            return
        import asyncpg

        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(dsn, timeout=10)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(NOTIFY_CHANNEL, lambda *_: wake())
                log.info("delivery.listening", channel=NOTIFY_CHANNEL)
                wake()  # what was queued while nobody listened
                await lost.wait()
                log.warning("delivery.listen_lost", channel=NOTIFY_CHANNEL)
            except (OSError, TimeoutError, asyncpg.PostgresError) as error:
                log.warning("delivery.listen_failed", error=type(error).__name__)
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            await asyncio.sleep(retry_seconds)

    async def claim_due(
        self, now: datetime, limit: int, lease_seconds: float, worker_id: str
    ) -> list[OutgoingMessage]:
        lease_until = now + timedelta(seconds=lease_seconds)
        params = {
            "p_now": now,
            "p_limit": limit,
            "p_lease_until": lease_until,
            "p_worker_id": worker_id,
        }
        async with self.engine.begin() as connection:
            rows = (await Direct(connection).execute(_CLAIM, params, rows=True)).rows
        messages: list[OutgoingMessage] = []
        for row in rows:
            try:
                messages.append(message_from_row(row, self.box))
            except (ValueError, InvalidTag):
                # Sealed with a key no longer configured: it can never be sent.
                await self.mark_failed(
                    row["id"],
                    now,
                    "sealed body cannot be opened",
                    None,
                    holder=Holder(worker_id, row["attempts"]),
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

    async def mark_sent_many(self, outcomes: list[SentOutcome]) -> set[str]:
        """One UPDATE for every row and one INSERT for their attempts, in one transaction:
        a worker records a batch at about the cost of one message. PostgreSQL takes the
        per-row values as arrays (one statement, prepared once, whatever the count);
        SQLite through CASE on the id."""
        if not outcomes:
            return set()
        by_id = {outcome.message_id: outcome for outcome in outcomes}
        async with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                recorded = set(
                    (
                        await connection.execute(
                            SENT_FROM_ARRAYS,
                            {
                                "ids": list(by_id),
                                "workers": [o.holder.worker_id for o in by_id.values()],
                                "attempts": [o.holder.attempt for o in by_id.values()],
                                "providers": [o.provider_message_id[:255] for o in by_id.values()],
                                "finished": [o.finished_at for o in by_id.values()],
                            },
                        )
                    ).scalars()
                )
            else:
                recorded = set((await connection.execute(_sent_by_case(by_id))).scalars())
            if recorded:
                await connection.execute(
                    delivery_attempts.insert(),
                    [
                        {
                            "message_id": outcome.message_id,
                            "attempt": outcome.holder.attempt,
                            "worker_id": outcome.holder.worker_id,
                            "started_at": outcome.started_at,
                            "finished_at": outcome.finished_at,
                            "outcome": "sent",
                            "provider_message_id": outcome.provider_message_id[:255],
                            "error": None,
                        }
                        for outcome in by_id.values()
                        if outcome.message_id in recorded
                    ],
                )
        return recorded

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
