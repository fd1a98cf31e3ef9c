"""The development mailbox writes concurrent sends in groups (SQLite and PostgreSQL):
every message is kept, in fewer INSERTs than messages; a failed write is a DeliveryError
for each send it carried."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from secinfo.adapters.delivery.devmailbox import DevMailbox
from secinfo.adapters.sql.database import create_engine
from secinfo.domain.contacts import Channel
from secinfo.domain.model import OutgoingMessage
from secinfo.ports import DeliveryError
from secinfo.services.deps import new_id
from tests.delivery_support import delivery_app

pytestmark = pytest.mark.anyio


def messages(count: int, now: Any) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            id=new_id("msg"),
            channel=Channel.EMAIL,
            destination=f"group{n}@example.com",
            template="code_integrator",
            locale="en",
            subject="Your code",
            body=f"code {n:06d}",
            created_at=now,
            next_attempt_at=now,
        )
        for n in range(count)
    ]


async def test_concurrent_sends_are_kept_every_one_in_fewer_writes(
    database_url: str, tmp_path: Path
) -> None:
    async with delivery_app(database_url, tmp_path) as app:
        assert app.mailbox is not None
        inserts: list[int] = []

        @event.listens_for(app.engine.sync_engine, "before_cursor_execute")
        def count_inserts(*args: Any) -> None:
            if "INSERT INTO dev_mailbox" in args[2]:
                inserts.append(1)

        batch = messages(30, app.deps.clock.now())
        answers = await asyncio.gather(*(app.mailbox.send(message) for message in batch))
        assert answers == [f"devmailbox-{message.id}" for message in batch]
        kept = {item.id: item for item in await app.mailbox.list_messages(limit=100)}
        assert set(kept) == {message.id for message in batch}
        assert all(kept[m.id].body == m.body and kept[m.id].to == m.destination for m in batch)
        assert 1 <= len(inserts) < len(batch)


async def test_a_failed_write_fails_each_send_it_carried(tmp_path: Path) -> None:
    # A database that is not there: the write fails, each send is a retryable DeliveryError.
    engine = create_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    mailbox = DevMailbox(engine)
    try:
        batch = messages(3, datetime.now(UTC))
        results = await asyncio.gather(
            *(mailbox.send(message) for message in batch), return_exceptions=True
        )
        assert all(isinstance(result, DeliveryError) for result in results)
        assert all(not result.permanent for result in results)
        assert all("development mailbox write failed" in str(result) for result in results)
    finally:
        await engine.dispose()
