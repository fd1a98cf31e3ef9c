"""The development mailbox: where messages go when no SMTP or SMS is configured.

Delivered messages are stored in the database (so every process of a development
setup sees them) and shown at ``/dev/mailbox``. Never enabled in production.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from secinfo.adapters.sql.tables import dev_mailbox
from secinfo.domain.contacts import normalize_contact
from secinfo.domain.errors import DomainError
from secinfo.domain.model import OutgoingMessage
from secinfo.ports import DeliveryError


@dataclass(frozen=True)
class MailboxMessage:
    id: str
    channel: str
    to: str
    subject: str
    body: str
    created_at: datetime


class DevMailbox:
    """Sends are written in groups: the first at once, those that come while a write runs
    together in the next one (one INSERT), so a worker fills it at thousands a second."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._pending: list[tuple[dict[str, object], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def send(self, message: OutgoingMessage) -> str:
        row: dict[str, object] = {
            "message_id": message.id,
            "channel": message.channel.value,
            "destination": message.destination,
            "subject": message.subject,
            "body": message.body,
            "created_at": message.created_at,
        }
        running = asyncio.get_running_loop()
        written = running.create_future()
        self._pending.append((row, written))
        if self._writer is None or self._writer.done():
            self._writer = running.create_task(self._write_all())
        await written
        return f"devmailbox-{message.id}"

    async def _write_all(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                async with self.engine.begin() as connection:
                    await connection.execute(dev_mailbox.insert(), [row for row, _ in group])
            except Exception as error:
                failed = DeliveryError(f"development mailbox write failed: {type(error).__name__}")
                for _, written in group:
                    if not written.done():
                        written.set_exception(failed)
            else:
                for _, written in group:
                    if not written.done():
                        written.set_result(None)

    async def list_messages(self, to: str | None = None, limit: int = 100) -> list[MailboxMessage]:
        # Newest first by when the message was queued: delivery runs concurrently.
        query = (
            dev_mailbox.select()
            .order_by(dev_mailbox.c.created_at.desc(), dev_mailbox.c.id.desc())
            .limit(limit)
        )
        if to and to.strip():
            wanted = recipient(to)
            if "@" in wanted:  # one mailbox whatever the case it was written in
                query = query.where(sa.func.lower(dev_mailbox.c.destination) == wanted.lower())
            else:
                query = query.where(dev_mailbox.c.destination == wanted)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            MailboxMessage(
                id=row.message_id,
                channel=row.channel,
                to=row.destination,
                subject=row.subject,
                body=row.body,
                created_at=row.created_at,
            )
            for row in rows
        ]

    async def clear(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(sa.delete(dev_mailbox))


def recipient(typed: str) -> str:
    """A mailbox filter normalised like a contact: ``+1 415 555 0189`` finds
    ``+14155550189``, and so does `` 14155550189`` (an unencoded ``+`` in a query string
    arrives as a space); text that is no contact is matched as it is."""
    text = typed.strip()
    if typed[:1] == " " and text[:1].isdigit():
        text = "+" + text
    try:
        return normalize_contact(text)[1]
    except DomainError:
        return text
