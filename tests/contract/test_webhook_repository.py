"""The webhook endpoint repository, on the fakes, SQLite and PostgreSQL: secrets come back
as stored (sealed in SQL), only enabled endpoints fan out, deliveries are the endpoint's
outbox messages newest first, and only dead or failed ones are requeued."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from secinfo.domain.contacts import Channel
from secinfo.domain.model import MessageStatus, OutgoingMessage
from secinfo.domain.webhooks import EndpointStatus, WebhookEndpoint, new_secret
from secinfo.ports import UnitOfWorkFactory
from tests.contract.test_repositories import NOW, target, uow

pytestmark = pytest.mark.anyio
__all__ = ["target", "uow"]  # the fixtures, shared with the repository suite


def endpoint(endpoint_id: str, **fields: object) -> WebhookEndpoint:
    values: dict[str, object] = {
        "id": endpoint_id,
        "url": f"https://hooks.example.com/{endpoint_id}",
        "events": ["account:security_info:*"],
        "created_at": NOW,
        "secret": new_secret(),
    }
    return WebhookEndpoint(**(values | fields))  # type: ignore[arg-type]


def delivery(message_id: str, endpoint_id: str, minutes: int, **fields: object) -> OutgoingMessage:
    values: dict[str, object] = {
        "id": message_id,
        "channel": Channel.WEBHOOK,
        "destination": endpoint_id,
        "template": "account:security_info:added",
        "locale": "en",
        "subject": "",
        "body": "{}",
        "created_at": NOW + timedelta(minutes=minutes),
        "next_attempt_at": NOW + timedelta(minutes=minutes),
    }
    return OutgoingMessage(**(values | fields))  # type: ignore[arg-type]


async def test_endpoints_round_trip_with_both_secrets(uow: UnitOfWorkFactory) -> None:
    first = endpoint("whe_1", description="security team")
    first.rotate(new_secret(), NOW, timedelta(hours=24))
    second = endpoint("whe_2", created_at=NOW + timedelta(seconds=1))
    second.disable(NOW, "the endpoint answered 410 Gone")
    async with uow() as unit:
        await unit.webhooks.add(first)
        await unit.webhooks.add(second)
        await unit.commit()
    async with uow() as unit:
        assert await unit.webhooks.get("whe_1") == first
        assert [e.id for e in await unit.webhooks.list_all()] == ["whe_1", "whe_2"]
        assert [e.id for e in await unit.webhooks.list_enabled()] == ["whe_1"]
        stored = await unit.webhooks.get("whe_2")
        assert stored is not None and stored.status is EndpointStatus.DISABLED
        stored.enable()
        stored.events = ["*"]
        await unit.webhooks.update(stored)
        await unit.webhooks.delete("whe_1")
        await unit.commit()
    async with uow() as unit:
        assert await unit.webhooks.get("whe_1") is None
        assert await unit.webhooks.get("whe_2") == stored
        assert [e.id for e in await unit.webhooks.list_enabled()] == ["whe_2"]


async def test_deliveries_are_the_endpoints_messages_and_only_ended_ones_requeue(
    uow: UnitOfWorkFactory,
) -> None:
    async with uow() as unit:
        await unit.webhooks.add(endpoint("whe_1"))
        await unit.outbox.add(delivery("msg_old", "whe_1", 1, status=MessageStatus.DEAD))
        await unit.outbox.add(delivery("msg_new", "whe_1", 2))
        await unit.outbox.add(delivery("msg_other", "whe_2", 3))
        await unit.outbox.add(
            replace(delivery("msg_mail", "whe_1", 4), channel=Channel.EMAIL, template="code")
        )
        await unit.commit()
    async with uow() as unit:
        found = await unit.webhooks.deliveries("whe_1", 50)
        assert [d.id for d in found] == ["msg_new", "msg_old"]
        assert [d.id for d in await unit.webhooks.deliveries("whe_1", 50, "dead")] == ["msg_old"]
        assert [d.id for d in await unit.webhooks.deliveries("whe_1", 1)] == ["msg_new"]
        later = NOW + timedelta(hours=1)
        assert await unit.webhooks.requeue("whe_1", "msg_new", later) == "queued"
        assert await unit.webhooks.requeue("whe_2", "msg_old", later) is None  # not its own
        assert await unit.webhooks.requeue("whe_1", "msg_old", later) == "dead"
        await unit.commit()
    async with uow() as unit:
        queued = await unit.webhooks.deliveries("whe_1", 50, "queued")
        assert {d.id for d in queued} == {"msg_new", "msg_old"}
        old = next(d for d in queued if d.id == "msg_old")
        assert (old.status, old.attempts, old.next_attempt_at) == ("queued", 0, later)
