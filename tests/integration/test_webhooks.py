"""Signed webhooks (Standard Webhooks) to a real local receiver, on SQLite and PostgreSQL:
the admin API with admin-scoped keys, events fanned out in the event's transaction, every
signature checked with the ``standardwebhooks`` library, retries while the endpoint is
down, 410 Gone, redelivery, secret rotation, and payloads with no contact value or code."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.tables import activity_events, outbox, webhook_endpoints
from secinfo.domain.contacts import Channel
from secinfo.domain.model import ApiKeyScope
from secinfo.services import api_keys
from tests.conftest import Harness, auth, running_app
from tests.webhook_support import WebhookReceiver, verify_all

pytestmark = pytest.mark.anyio
EMAIL = "ada.lovelace@example.com"
PHONE = "+14155550123"
PASSWORD = "a long passphrase 1"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
async def hooks(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """The app with short retry delays (a test moves its clock past them)."""
    async with running_app(
        database_url,
        tmp_path,
        delivery_retry_first_seconds=1,
        delivery_retry_max_seconds=2,
        webhook_retry_max_seconds=2,
    ) as running:
        yield running


async def admin_key(harness: Harness) -> dict[str, str]:
    created = await api_keys.create(harness.app.deps, "operations", ApiKeyScope.ADMIN)
    return auth(created.key)


async def add_endpoint(
    harness: Harness, key: dict[str, str], url: str, events: list[str]
) -> dict[str, Any]:
    response = await harness.client.post(
        "/v1/admin/webhooks", json={"url": url, "events": events}, headers=key
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["secret"].startswith("whsec_")
    return body


async def event_rows(harness: Harness) -> list[Any]:
    async with harness.app.engine.connect() as connection:
        return list(
            await connection.execute(activity_events.select().order_by(activity_events.c.seq))
        )


async def add_phone(harness: Harness, token: str) -> str:
    await harness.step_up(token, EMAIL)
    added = (
        await harness.client.post(
            "/v1/me/security-info",
            json={"kind": "phone", "value": PHONE, "label": "work phone"},
            headers=auth(token),
        )
    ).json()
    verified = await harness.client.post(
        f"/v1/me/security-info/{added['item']['id']}/verify",
        json={
            "verification_id": added["verification"]["id"],
            "code": await harness.latest_code(PHONE),
        },
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text
    item_id: str = added["item"]["id"]
    return item_id


async def test_admin_endpoints_need_an_admin_key(hooks: Harness) -> None:
    assert (await hooks.client.get("/v1/admin/webhooks")).json()["error"]["code"] == (
        "invalid_api_key"
    )
    verification_key = auth(await hooks.api_key())
    refused = await hooks.client.get("/v1/admin/webhooks", headers=verification_key)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden_scope"
    admin = await admin_key(hooks)
    assert (await hooks.client.get("/v1/admin/webhooks", headers=admin)).status_code == 200
    # And the other way round: an admin key does not send codes.
    crossed = await hooks.client.post(
        "/v1/verifications", json={"to": PHONE, "channel": "sms"}, headers=admin
    )
    assert crossed.status_code == 403
    assert crossed.json()["error"]["code"] == "forbidden_scope"


async def test_bad_endpoints_are_refused_with_what_to_do(hooks: Harness) -> None:
    admin = await admin_key(hooks)
    cases = {
        "ftp://example.com/hook": "invalid_webhook_url",
        "https://user:pw@example.com/hook": "invalid_webhook_url",
        "https://example.com/hook#part": "invalid_webhook_url",
        "/relative/hook": "invalid_webhook_url",
    }
    for url, code in cases.items():
        response = await hooks.client.post(
            "/v1/admin/webhooks", json={"url": url, "events": ["*"]}, headers=admin
        )
        assert response.status_code == 422, url
        assert response.json()["error"]["code"] == code
    typo = await hooks.client.post(
        "/v1/admin/webhooks",
        json={"url": "https://example.com/hook", "events": ["account:securityinfo:*"]},
        headers=admin,
    )
    assert typo.status_code == 422
    assert typo.json()["error"]["code"] == "invalid_event_pattern"
    assert "account:securityinfo:*" in typo.json()["error"]["message"]
    async with hooks.app.engine.connect() as connection:
        assert (
            await connection.scalar(sa.select(sa.func.count()).select_from(webhook_endpoints))
        ) == 0


async def test_subscribed_events_arrive_signed_once_each_without_contact_values(
    hooks: Harness, receiver: WebhookReceiver
) -> None:
    admin = await admin_key(hooks)
    endpoint = await add_endpoint(
        hooks, admin, receiver.url, ["account:security_info:*", "account:sign_in:failure"]
    )
    other = WebhookReceiver().start()
    try:
        await add_endpoint(hooks, admin, other.url, ["account:password:changed"])
        token = await hooks.sign_up(EMAIL, PASSWORD)
        item_id = await add_phone(hooks, token)
        wrong = await hooks.client.post(
            "/v1/sessions", json={"sign_in_name": EMAIL, "password": "not the one 9"}
        )
        assert wrong.status_code == 401
        await hooks.deliver()

        events = await event_rows(hooks)
        expected = {
            row.id: row.type
            for row in events
            if row.type.startswith("account:security_info:")
            or row.type == "account:sign_in:failure"
        }
        assert {"account:security_info:added", "account:security_info:verified"} <= set(
            expected.values()
        )
        received = receiver.inbox.accepted()
        verify_all(received, endpoint["secret"])
        assert {item.payload["data"]["id"]: item.payload["type"] for item in received} == expected
        assert len({item.id for item in received}) == len(received) == len(expected)
        assert other.inbox.count() == 0  # subscribed to nothing that happened

        added = next(i for i in received if i.payload["type"] == "account:security_info:added")
        assert added.payload["data"]["item_id"] == item_id
        assert added.payload["data"]["kind"] == "phone"
        assert set(added.payload) == {"type", "timestamp", "data"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", added.payload["timestamp"])
        # Nothing that identifies a contact, no code, no IP or user agent.
        codes = re.findall(r"\b[0-9]{6}\b", "".join(item.body for item in received))
        for item in received:
            for secret in (EMAIL, PHONE, PHONE[1:], "ada.lovelace", "203.0.113.7", PASSWORD):
                assert secret not in item.body
            assert "ip" not in item.payload["data"]
            assert "user_agent" not in item.payload["data"]
        assert not codes, codes

        deliveries = await hooks.client.get(
            f"/v1/admin/webhooks/{endpoint['id']}/deliveries", headers=admin
        )
        assert deliveries.status_code == 200
        listed = deliveries.json()["deliveries"]
        assert {d["id"] for d in listed} == {item.id for item in received}
        assert all(d["status"] == "sent" for d in listed)
        assert all(d["attempt_log"][-1]["response"] == "HTTP 204" for d in listed)
    finally:
        other.stop()


async def test_an_endpoint_down_for_a_while_gets_every_event_exactly_once(
    hooks: Harness, receiver: WebhookReceiver
) -> None:
    admin = await admin_key(hooks)
    endpoint = await add_endpoint(hooks, admin, receiver.url, ["*"])
    receiver.stop()  # connection refused from now on
    for n in range(3):
        await hooks.sign_up(f"person{n}@example.com", PASSWORD)
    await hooks.deliver()
    down = (
        await hooks.client.get(f"/v1/admin/webhooks/{endpoint['id']}/deliveries", headers=admin)
    ).json()["deliveries"]
    assert down and {d["status"] for d in down} == {"failed"}
    assert all("failed" in d["attempt_log"][0]["error"] for d in down)

    for _ in range(3):  # retries while it is still down
        hooks.clock.advance(seconds=3)
        await hooks.deliver()
    receiver.start()
    answered = {"count": 0}

    def flaky(_: dict[str, Any]) -> int:  # back, but answers 500 to one request first
        answered["count"] += 1
        return 500 if answered["count"] == 1 else 200

    receiver.inbox.status = flaky
    for _ in range(3):
        hooks.clock.advance(seconds=3)
        await hooks.deliver()

    events = await event_rows(hooks)
    accepted = receiver.inbox.accepted()
    verify_all(accepted, endpoint["secret"])
    assert sorted(item.payload["data"]["id"] for item in accepted) == sorted(r.id for r in events)
    assert len({item.id for item in accepted}) == len(accepted) == len(events)
    rows = (
        await hooks.client.get(f"/v1/admin/webhooks/{endpoint['id']}/deliveries", headers=admin)
    ).json()["deliveries"]
    assert {d["status"] for d in rows} == {"sent"}
    assert all(d["attempts"] >= 5 for d in rows)  # refused 4 times, then delivered
    assert all(len(d["attempt_log"]) == d["attempts"] for d in rows)


async def test_410_gone_disables_the_endpoint_and_a_dead_delivery_can_be_redelivered(
    hooks: Harness, receiver: WebhookReceiver
) -> None:
    admin = await admin_key(hooks)
    endpoint = await add_endpoint(hooks, admin, receiver.url, ["account:created"])
    receiver.inbox.status = 410
    await hooks.sign_up("first@example.com", PASSWORD)
    await hooks.deliver()
    shown = (await hooks.client.get(f"/v1/admin/webhooks/{endpoint['id']}", headers=admin)).json()
    assert shown["status"] == "disabled"
    assert "410" in shown["disabled_reason"]
    dead = (
        await hooks.client.get(f"/v1/admin/webhooks/{endpoint['id']}/deliveries", headers=admin)
    ).json()["deliveries"]
    assert [d["status"] for d in dead] == ["dead"]
    assert receiver.inbox.count() == 1  # not retried

    await hooks.sign_up("second@example.com", PASSWORD)  # not queued while disabled
    async with hooks.app.engine.connect() as connection:
        queued = await connection.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.channel == "webhook")
        )
    assert queued == 1

    redeliver = f"/v1/admin/webhooks/{endpoint['id']}/deliveries/{dead[0]['id']}/redeliver"
    refused = await hooks.client.post(redeliver, headers=admin)
    assert refused.status_code == 422  # enable it first
    enabled = await hooks.client.patch(
        f"/v1/admin/webhooks/{endpoint['id']}", json={"enabled": True}, headers=admin
    )
    assert enabled.json()["status"] == "enabled"
    assert enabled.json()["disabled_reason"] is None
    receiver.inbox.status = 200
    assert (await hooks.client.post(redeliver, headers=admin)).status_code == 202
    await hooks.deliver()
    again = receiver.inbox.accepted()
    assert [item.id for item in again] == [dead[0]["id"]]  # the same webhook-id
    verify_all(again, endpoint["secret"])
    sent = await hooks.client.post(redeliver, headers=admin)
    assert sent.status_code == 409
    assert sent.json()["error"]["code"] == "delivery_not_redeliverable"


async def test_a_rotated_secret_overlaps_then_only_the_new_one_signs(
    hooks: Harness, receiver: WebhookReceiver
) -> None:
    from standardwebhooks.webhooks import WebhookVerificationError

    from secinfo.domain.webhooks import signature

    admin = await admin_key(hooks)
    endpoint = await add_endpoint(hooks, admin, receiver.url, ["*"])
    base = f"/v1/admin/webhooks/{endpoint['id']}"
    rotated = await hooks.client.post(
        f"{base}/rotate-secret", json={"overlap_seconds": 60}, headers=admin
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != endpoint["secret"]
    assert (await hooks.client.post(f"{base}/test", headers=admin)).status_code == 202
    await hooks.deliver()
    during = receiver.inbox.accepted()
    assert [item.payload["type"] for item in during] == ["webhook.test"]
    assert len(during[0].headers["webhook-signature"].split(" ")) == 2
    verify_all(during, endpoint["secret"], new_secret)  # both sign during the overlap

    hooks.clock.advance(seconds=61)
    await hooks.client.post(f"{base}/test", headers=admin)
    await hooks.deliver()
    after = receiver.inbox.accepted()[1:]
    assert len(after[0].headers["webhook-signature"].split(" ")) == 1
    verify_all(after, new_secret)
    with pytest.raises(WebhookVerificationError):
        verify_all(after, endpoint["secret"])
    # The header is exactly the spec's: v1,base64(HMAC-SHA256(id.timestamp.body)).
    headers = after[0].headers
    assert headers["webhook-signature"] == signature(
        new_secret, headers["webhook-id"], int(headers["webhook-timestamp"]), after[0].body
    )


async def test_signing_secrets_are_sealed_at_rest(
    hooks: Harness, receiver: WebhookReceiver
) -> None:
    admin = await admin_key(hooks)
    endpoint = await add_endpoint(hooks, admin, receiver.url, ["*"])
    async with hooks.app.engine.connect() as connection:
        stored = await connection.scalar(sa.select(webhook_endpoints.c.secret))
    assert stored.startswith("sealed:v1:")
    assert endpoint["secret"].removeprefix("whsec_") not in stored
    listed = await hooks.client.get("/v1/admin/webhooks", headers=admin)
    assert endpoint["secret"] not in listed.text
    assert "secret" not in json.dumps(listed.json()["endpoints"][0]).replace(
        "previous_secret_expires_at", ""
    )


async def test_the_openapi_document_covers_the_admin_webhooks_api(hooks: Harness) -> None:
    document = (await hooks.client.get("/openapi.json")).json()
    paths = document["paths"]
    for path in (
        "/v1/admin/webhooks",
        "/v1/admin/webhooks/{endpoint_id}",
        "/v1/admin/webhooks/{endpoint_id}/rotate-secret",
        "/v1/admin/webhooks/{endpoint_id}/test",
        "/v1/admin/webhooks/{endpoint_id}/deliveries",
        "/v1/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
        "/v1/admin/webhooks/event-types",
    ):
        assert path in paths, path
        for operation in paths[path].values():
            assert {"401", "403"} <= set(operation["responses"]), path
    assert "201" in paths["/v1/admin/webhooks"]["post"]["responses"]


async def test_timestamps_follow_the_clock_and_retries_keep_the_webhook_id(
    hooks: Harness, receiver: WebhookReceiver
) -> None:
    admin = await admin_key(hooks)
    endpoint = await add_endpoint(hooks, admin, receiver.url, ["*"])
    receiver.inbox.status = 503
    await hooks.client.post(f"/v1/admin/webhooks/{endpoint['id']}/test", headers=admin)
    await hooks.deliver()
    hooks.clock.advance(timedelta(seconds=3))
    receiver.inbox.status = 200
    await hooks.deliver()
    first, second = receiver.inbox.all()
    assert first.id == second.id
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    verify_all([second], endpoint["secret"])


async def test_an_email_that_dies_is_a_dead_lettered_webhook_with_its_address_masked(
    database_url: str, tmp_path: Path, receiver: WebhookReceiver
) -> None:
    from secinfo.services import webhooks
    from tests.delivery_support import SmtpServer, deliver_all, delivery_app, queue_messages
    from tests.integration.test_smtp_delivery import smtp_settings

    smtp = SmtpServer().start()
    smtp.inbox.refuse = {"nobody@example.com": "550 5.1.1 No such user here"}
    try:
        async with delivery_app(database_url, tmp_path, **smtp_settings(smtp)) as app:
            created = await webhooks.create(app.deps, receiver.url, ["delivery:*"])
            [dead_id] = await queue_messages(app, Channel.EMAIL, ["nobody@example.com"])
            await queue_messages(app, Channel.EMAIL, ["fine@example.com"])
            await deliver_all(app)
            [item] = receiver.inbox.accepted()
            verify_all([item], created.secret)
            assert item.payload["type"] == "delivery:dead_lettered"
            data = item.payload["data"]
            assert data["message_id"] == dead_id
            assert data["channel"] == "email"
            assert data["masked"] == "no*****@example.com"
            assert "nobody@example.com" not in item.body
            assert "account_id" not in data
    finally:
        smtp.stop()
