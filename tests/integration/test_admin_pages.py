"""The operator pages (/admin) on SQLite and PostgreSQL, over HTTP: who sees them, the
10-minute step-up, CSRF, and each action (retry, unblock, revoke, lock)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.tables import outbox
from secinfo.domain.contacts import Channel
from secinfo.domain.model import OutgoingMessage, PrefixBlock
from secinfo.services import api_keys, data_rights, operators, webhooks
from secinfo.services.deps import new_id
from tests.conftest import Harness, auth, running_app

pytestmark = pytest.mark.anyio

OPERATOR = "olga.operator@example.com"
HOLDER = "hugo.holder@example.com"
PASSWORD = "a long passphrase 1"


def _one(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in page"
    return found[1]


async def operator_signed_in(harness: Harness, *, step_up: bool = True) -> str:
    """Olga signs up, becomes an operator (CLI's service), and her browser holds the
    session (the API's session token is the page's session cookie)."""
    token = await harness.sign_up(OPERATOR)
    await operators.create(harness.app.deps, OPERATOR)
    if step_up:
        await harness.step_up(token, OPERATOR)
    harness.client.cookies.set("secinfo_session", token)
    return token


async def csrf_of(harness: Harness, path: str) -> tuple[str, str]:
    page = await harness.client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:500])
    return _one(r'name="csrf_token" value="([^"]+)"', page.text), page.text


async def test_the_admin_area_is_not_found_for_anyone_but_an_operator(harness: Harness) -> None:
    anonymous = await harness.client.get("/admin")
    nowhere = await harness.client.get("/no-such-page")
    assert anonymous.status_code == 404 == nowhere.status_code
    assert anonymous.text == nowhere.text  # nothing tells the admin area exists

    token = await harness.sign_up(HOLDER)
    await harness.step_up(token, HOLDER)  # even freshly verified
    harness.client.cookies.set("secinfo_session", token)
    for path in ("/admin", "/admin/outbox", "/admin/api-keys", "/admin/prefixes"):
        page = await harness.client.get(path)
        assert page.status_code == 404, path
        assert "Page not found" in page.text and "Operator" not in page.text
    # A form post without a token is "not found" too (the gate comes before CSRF).
    posted = await harness.client.post("/admin/api-keys", data={"name": "x"})
    assert posted.status_code == 404
    assert await api_keys.list_keys(harness.app.deps) == []


async def test_an_operator_needs_a_step_up_of_the_last_ten_minutes(harness: Harness) -> None:
    token = await operator_signed_in(harness, step_up=False)
    first = await harness.client.get("/admin/outbox?status=dead")
    assert first.status_code == 303
    assert first.headers["location"] == "/security/verify?next=/admin/outbox%3Fstatus%3Ddead"

    await harness.step_up(token, OPERATOR)
    for path in (
        "/admin",
        "/admin/outbox",
        "/admin/prefixes",
        "/admin/webhooks",
        "/admin/api-keys",
    ):
        page = await harness.client.get(path)
        assert page.status_code == 200, path
        assert "Operator: ol*****@example.com" in page.text, path

    harness.clock.advance(minutes=10, seconds=1)
    stale = await harness.client.get("/admin/api-keys")
    assert stale.status_code == 303
    assert stale.headers["location"] == "/security/verify?next=/admin/api-keys"
    # A form posted after the ten minutes comes back to its page after the step-up.
    posted = await harness.client.post("/admin/api-keys/key_x/revoke", data={})
    assert posted.status_code == 303
    assert posted.headers["location"] == "/security/verify?next=/admin/api-keys"

    # The step-up page itself brings her back.
    await harness.step_up(token, OPERATOR)
    assert (await harness.client.get("/admin/api-keys")).status_code == 200


async def test_ten_minutes_hold_even_when_the_step_up_window_is_longer(
    database_url: str, tmp_path: object
) -> None:
    async with running_app(database_url, tmp_path, step_up_window_seconds=3600) as harness:  # type: ignore[arg-type]
        await operator_signed_in(harness)
        assert (await harness.client.get("/admin")).status_code == 200
        harness.clock.advance(minutes=11)
        assert (await harness.client.get("/security/data")).status_code == 200  # still privileged
        assert (await harness.client.get("/admin")).status_code == 303


async def test_a_removed_operator_no_longer_sees_the_pages(harness: Harness) -> None:
    await operator_signed_in(harness)
    assert (await harness.client.get("/admin")).status_code == 200
    await operators.remove(harness.app.deps, OPERATOR)
    assert (await harness.client.get("/admin")).status_code == 404


async def test_a_form_without_its_csrf_token_is_refused(harness: Harness) -> None:
    await operator_signed_in(harness)
    created = await api_keys.create(harness.app.deps, "shop backend")
    refused = await harness.client.post(f"/admin/api-keys/{created.api_key.id}/revoke", data={})
    assert refused.status_code == 403
    assert "This form has expired" in refused.text
    wrong = await harness.client.post(
        f"/admin/api-keys/{created.api_key.id}/revoke", data={"csrf_token": "0" * 64}
    )
    assert wrong.status_code == 403
    [key] = await api_keys.list_keys(harness.app.deps)
    assert key.revoked_at is None


async def queue_dead(harness: Harness, *, body: str = "plain notice") -> str:
    """A dead email; an empty ``body`` is a code's, wiped when it ended."""
    now = harness.clock.now()
    message = OutgoingMessage(
        id=new_id("msg"),
        channel=Channel.EMAIL,
        destination="dora.dead@example.com",
        template="data_exported",
        locale="en",
        subject="Your data",
        body=body,
        created_at=now,
        next_attempt_at=now,
        carries_secret=not body,
    )
    async with harness.app.deps.uow() as uow:
        await uow.outbox.add(message)
        await uow.commit()
    async with harness.app.engine.begin() as connection:
        await connection.execute(
            outbox.update()
            .where(outbox.c.id == message.id)
            .values(status="dead", attempts=5, last_error="SMTP 550: mailbox unavailable")
            .values(**({} if body else {"body": ""}))  # what a code's message ends with
        )
    return message.id


async def status_of(harness: Harness, message_id: str) -> str:
    async with harness.app.engine.connect() as connection:
        value = await connection.scalar(sa.select(outbox.c.status).where(outbox.c.id == message_id))
    return str(value)


async def test_the_delivery_log_retries_a_dead_message(harness: Harness) -> None:
    await operator_signed_in(harness)
    dead = await queue_dead(harness)
    wiped = await queue_dead(harness, body="")  # a code's body, wiped: cannot be resent
    csrf, page = await csrf_of(harness, "/admin/outbox?status=dead")
    assert dead in page and wiped in page
    assert "do*****@example.com" in page and "dora.dead@example.com" not in page
    assert "SMTP 550: mailbox unavailable" in page
    assert "plain notice" not in page  # never a body
    assert f'action="/admin/outbox/{dead}/retry"' in page
    assert f'action="/admin/outbox/{wiped}/retry"' not in page

    retried = await harness.client.post(
        f"/admin/outbox/{dead}/retry", data={"csrf_token": csrf, "status": "dead"}
    )
    assert retried.status_code == 303
    assert retried.headers["location"] == "/admin/outbox?status=dead&notice=admin_retried"
    assert await status_of(harness, dead) == "queued"
    shown = await harness.client.get(retried.headers["location"])
    assert "The message is queued again" in shown.text
    assert dead not in shown.text  # no longer dead

    refused = await harness.client.post(
        f"/admin/outbox/{wiped}/retry", data={"csrf_token": csrf, "status": "dead"}
    )
    assert refused.status_code == 409
    assert "its code was wiped" in refused.text
    assert await status_of(harness, wiped) == "dead"
    queued = await harness.client.post(f"/admin/outbox/{dead}/retry", data={"csrf_token": csrf})
    assert queued.status_code == 409 and "it is queued" in queued.text


async def test_unblock_a_prefix(harness: Harness) -> None:
    await operator_signed_in(harness)
    now = harness.clock.now()
    async with harness.app.deps.uow() as uow:
        await uow.prefix_blocks.add(
            PrefixBlock("+2348031", "NG", now, now + timedelta(hours=24), 40, 1)
        )
        await uow.commit()
    csrf, page = await csrf_of(harness, "/admin/prefixes")
    assert "+2348031" in page and "NG" in page
    lifted = await harness.client.post(
        "/admin/prefixes/unblock", data={"csrf_token": csrf, "prefix": "+2348031"}
    )
    assert lifted.status_code == 303
    assert lifted.headers["location"] == "/admin/prefixes?notice=admin_unblocked"
    after = (await harness.client.get(lifted.headers["location"])).text
    assert "The block is lifted" in after and "No prefix is blocked." in after
    again = await harness.client.post(
        "/admin/prefixes/unblock", data={"csrf_token": csrf, "prefix": "+2348031"}
    )
    assert again.status_code == 404 and "No active block on +2348031" in again.text


async def test_api_keys_create_shows_the_key_once_and_revoke(harness: Harness) -> None:
    await operator_signed_in(harness)
    csrf, _ = await csrf_of(harness, "/admin/api-keys")
    created = await harness.client.post(
        "/admin/api-keys", data={"csrf_token": csrf, "name": "shop backend", "scope": "admin"}
    )
    assert created.status_code == 200
    key = _one(r"<code>(sik_[^<]+)</code>", created.text)
    [stored] = await api_keys.list_keys(harness.app.deps)
    assert stored.name == "shop backend" and stored.scope.value == "admin"
    listing = (await harness.client.get("/admin/api-keys")).text
    assert key not in listing and f"{stored.prefix}…" in listing

    revoked = await harness.client.post(
        f"/admin/api-keys/{stored.id}/revoke", data={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/admin/api-keys?notice=admin_key_revoked"
    [after] = await api_keys.list_keys(harness.app.deps)
    assert after.revoked_at is not None
    call = await harness.client.get(
        "/v1/admin/webhooks", headers={"Authorization": f"Bearer {key}"}
    )
    assert call.status_code == 401
    page = (await harness.client.get(revoked.headers["location"])).text
    assert "The API key is revoked" in page
    assert f'action="/admin/api-keys/{stored.id}/revoke"' not in page

    nameless = await harness.client.post(
        "/admin/api-keys", data={"csrf_token": csrf, "name": " ", "scope": "verification"}
    )
    assert nameless.status_code == 422 and "Give the key a name" in nameless.text


async def test_an_export_says_since_when_the_account_operates_and_erasure_ends_it(
    harness: Harness,
) -> None:
    await operator_signed_in(harness)
    [operator] = await operators.list_operators(harness.app.deps)
    document = await data_rights.export_account(harness.app.deps, operator.account_id, by="cli")
    assert document["account"]["operator_since"] == operator.since.isoformat()
    erased = await data_rights.erase_account(harness.app.deps, operator.account_id, by="cli")
    assert erased.rows["operators"] == 1
    assert await operators.list_operators(harness.app.deps) == []


async def test_webhook_endpoints_show_their_deliveries_and_redeliver(harness: Harness) -> None:
    await operator_signed_in(harness)
    created = await webhooks.create(harness.app.deps, "http://127.0.0.1:9/hooks", ["*"], "CRM")
    endpoint = created.endpoint
    delivery = await webhooks.send_test(harness.app.deps, endpoint.id)
    async with harness.app.engine.begin() as connection:
        await connection.execute(
            outbox.update()
            .where(outbox.c.id == delivery.id)
            .values(status="dead", attempts=8, last_error="connection refused")
        )
    listing = (await harness.client.get("/admin/webhooks")).text
    assert f'href="/admin/webhooks/{endpoint.id}"' in listing and "CRM" in listing
    assert created.secret not in listing
    csrf, page = await csrf_of(harness, f"/admin/webhooks/{endpoint.id}?status=dead")
    assert delivery.id in page and "connection refused" in page and "webhook.test" in page
    assert created.secret not in page
    redelivered = await harness.client.post(
        f"/admin/webhooks/{endpoint.id}/deliveries/{delivery.id}/redeliver",
        data={"csrf_token": csrf},
    )
    assert redelivered.status_code == 303
    assert redelivered.headers["location"] == (
        f"/admin/webhooks/{endpoint.id}?notice=admin_redelivered"
    )
    assert await status_of(harness, delivery.id) == "queued"
    again = await harness.client.post(
        f"/admin/webhooks/{endpoint.id}/deliveries/{delivery.id}/redeliver",
        data={"csrf_token": csrf},
    )
    assert again.status_code == 409 and "only a dead or failed one" in again.text
    assert (await harness.client.get("/admin/webhooks/whe_nope")).status_code == 404


async def holder_account(harness: Harness) -> tuple[str, str]:
    """Hugo's account (another client: the operator's browser keeps its cookies)."""
    async with httpx.AsyncClient(
        transport=harness.client._transport, base_url="http://secinfo.test"
    ) as other:
        started = await other.post(
            "/v1/accounts", json={"sign_in_name": HOLDER, "password": PASSWORD}
        )
        confirmed = await other.post(
            "/v1/accounts/confirm",
            json={
                "verification_id": started.json()["verification_id"],
                "code": await harness.latest_code(HOLDER),
            },
        )
        assert confirmed.status_code == 201, confirmed.text
        return confirmed.json()["account_id"], confirmed.json()["token"]


async def sign_in_status(harness: Harness) -> tuple[int, str]:
    async with httpx.AsyncClient(
        transport=harness.client._transport, base_url="http://secinfo.test"
    ) as other:
        answer = await other.post(
            "/v1/sessions", json={"sign_in_name": HOLDER, "password": PASSWORD}
        )
        body = answer.json()
        return answer.status_code, body.get("error", {}).get("code", "")


async def test_lock_an_account_from_its_page(harness: Harness) -> None:
    await operator_signed_in(harness)
    account_id, token = await holder_account(harness)
    csrf, found = await csrf_of(harness, "/admin/accounts?sign_in_name=Hugo.Holder@example.com")
    assert f'href="/admin/accounts/{account_id}"' in found
    assert "hu*****@example.com" in found and HOLDER not in found
    _, page = await csrf_of(harness, f"/admin/accounts/{account_id}")
    assert f'action="/admin/accounts/{account_id}/lock"' in page and HOLDER not in page

    locked = await harness.client.post(
        f"/admin/accounts/{account_id}/lock",
        data={"csrf_token": csrf, "reason": "reported stolen"},
    )
    assert locked.status_code == 303
    assert locked.headers["location"] == f"/admin/accounts/{account_id}?notice=admin_locked"
    assert await sign_in_status(harness) == (403, "account_locked")
    assert (await harness.client.get("/v1/me", headers=auth(token))).status_code == 401

    shown = (await harness.client.get(locked.headers["location"])).text
    assert "The account is locked" in shown
    assert "by ol*****@example.com: “reported stolen”" in shown
    assert "Account locked" in shown and "By operator ol*****@example.com" in shown
    [operator] = await operators.list_operators(harness.app.deps)
    async with harness.app.deps.uow() as uow:
        [event, *_] = await uow.activity.list_for_account(account_id, 5)
    assert event.type == "account:locked"
    assert event.details["operator_kind"] == "operator_account"
    assert event.details["operator_id"] == operator.account_id
    assert event.details["operator_name"] == "ol*****@example.com"
    assert event.details["by"] == "operator_page"

    again = await harness.client.post(
        f"/admin/accounts/{account_id}/lock", data={"csrf_token": csrf}
    )
    assert again.status_code == 409 and "locked already" in again.text
    unlocked = await harness.client.post(
        f"/admin/accounts/{account_id}/unlock", data={"csrf_token": csrf}
    )
    assert unlocked.headers["location"] == f"/admin/accounts/{account_id}?notice=admin_unlocked"
    assert (await sign_in_status(harness))[0] == 201


async def test_sessions_password_reset_and_pending_change_from_the_account_page(
    harness: Harness,
) -> None:
    await operator_signed_in(harness)
    account_id, token = await holder_account(harness)
    csrf, _ = await csrf_of(harness, f"/admin/accounts/{account_id}")
    ended = await harness.client.post(
        f"/admin/accounts/{account_id}/sessions/revoke", data={"csrf_token": csrf}
    )
    assert ended.headers["location"].endswith("notice=admin_sessions_revoked")
    assert (await harness.client.get("/v1/me", headers=auth(token))).status_code == 401

    # Hugo signs in again and asks to remove all his security info: a change waits.
    status, _ = await sign_in_status(harness)
    assert status == 201
    async with httpx.AsyncClient(
        transport=harness.client._transport, base_url="http://secinfo.test"
    ) as hugo:
        signed = await hugo.post(
            "/v1/sessions", json={"sign_in_name": HOLDER, "password": PASSWORD}
        )
        hugo_token = signed.json()["token"]
        await harness.step_up(hugo_token, HOLDER)
        waiting = await hugo.post("/v1/me/security-info/remove-all", headers=auth(hugo_token))
        assert waiting.status_code in (200, 202), waiting.text
    page = (await harness.client.get(f"/admin/accounts/{account_id}")).text
    assert f'action="/admin/accounts/{account_id}/pending-change/cancel"' in page
    canceled = await harness.client.post(
        f"/admin/accounts/{account_id}/pending-change/cancel", data={"csrf_token": csrf}
    )
    assert canceled.headers["location"].endswith("notice=admin_change_canceled")
    page = (await harness.client.get(canceled.headers["location"])).text
    assert "pending-change/cancel" not in page
    none_left = await harness.client.post(
        f"/admin/accounts/{account_id}/pending-change/cancel", data={"csrf_token": csrf}
    )
    assert none_left.status_code == 409

    reset = await harness.client.post(
        f"/admin/accounts/{account_id}/password-reset", data={"csrf_token": csrf}
    )
    assert reset.headers["location"].endswith("notice=admin_reset_required")
    assert (await sign_in_status(harness))[1] == "password_reset_required"
    assert (await harness.client.get("/admin/accounts/acc_nope")).status_code == 404
    unknown = await harness.client.post(
        f"/admin/accounts/{account_id}/explode", data={"csrf_token": csrf}
    )
    assert unknown.status_code == 404
    bad = await harness.client.get("/admin/accounts?sign_in_name=not a contact")
    assert bad.status_code == 422
