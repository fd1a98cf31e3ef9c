"""Messages commit with their change; bodies with a code are sealed and wiped after."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.tables import outbox, verifications
from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio


async def outbox_rows(harness: Harness) -> list[sa.Row]:
    async with harness.app.engine.connect() as connection:
        return list(await connection.execute(outbox.select().order_by(outbox.c.created_at)))


async def test_code_message_is_sealed_at_rest_and_wiped_once_sent(harness: Harness) -> None:
    key = await harness.api_key()
    await harness.client.post(
        "/v1/verifications", json={"to": "+14155550100", "channel": "sms"}, headers=auth(key)
    )
    [queued] = await outbox_rows(harness)
    assert queued.status == "queued"
    assert queued.carries_secret
    assert queued.body.startswith("sealed:v1:")
    code = await harness.latest_code("+14155550100")  # delivers
    assert code not in queued.body
    [sent] = await outbox_rows(harness)
    assert sent.status == "sent"
    assert sent.body == ""
    assert sent.provider_message_id
    async with harness.app.engine.connect() as connection:
        stored = (await connection.execute(verifications.select())).one()
    assert code not in stored.codes  # only keyed hashes


async def test_a_code_message_past_its_expiry_is_not_sent(harness: Harness) -> None:
    key = await harness.api_key()
    await harness.client.post(
        "/v1/verifications", json={"to": "late@example.com", "channel": "email"}, headers=auth(key)
    )
    harness.clock.advance(minutes=11)
    assert await harness.mailbox("late@example.com") == []
    [row] = await outbox_rows(harness)
    assert row.status == "expired"
    assert row.body == ""


async def test_notices_are_not_sealed(harness: Harness) -> None:
    await harness.sign_up("hana@example.com")
    await harness.client.post(
        "/v1/accounts", json={"sign_in_name": "hana@example.com", "password": "a long passphrase 1"}
    )
    rows = await outbox_rows(harness)
    notice = rows[-1]
    assert notice.template == "sign_up_existing"
    assert not notice.carries_secret
    assert "Someone tried to create a new secinfo account" in notice.body


async def test_a_refused_change_queues_no_message(harness: Harness) -> None:
    response = await harness.client.post(
        "/v1/accounts", json={"sign_in_name": "ivan@example.com", "password": "123456789"}
    )
    assert response.status_code == 422
    assert await outbox_rows(harness) == []
