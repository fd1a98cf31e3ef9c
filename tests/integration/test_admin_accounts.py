"""The admin accounts API over HTTP on SQLite and PostgreSQL, with admin-scoped keys:
find an account by a sign-in name, view it (contacts masked only), lock and unlock it,
end its sessions, cancel its pending change, require a new password. Every action is in
the account's activity with the key's name and reaches a real local webhook receiver,
signed; the holder reads the notices in the development mailbox."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from secinfo.adapters.sql.tables import activity_events
from secinfo.domain.contacts import contact_key
from secinfo.domain.model import ApiKeyScope
from secinfo.services import api_keys
from tests.conftest import Harness, auth, running_app
from tests.integration.test_cli import run_cli
from tests.integration.test_passkeys import answer_sign_in, register, sign_in_options
from tests.webauthn_authenticator import SoftAuthenticator
from tests.webhook_support import WebhookReceiver, verify_all

pytestmark = pytest.mark.anyio

PASSWORD = "a long passphrase 1"
NEW_PASSWORD = "a fresh passphrase 22"
EMAIL = "Mia.Operator@Example.COM"  # stored as Mia.Operator@example.com
STORED = "Mia.Operator@example.com"
PHONE = "+14155550142"
KEY_NAME = "support desk"
ORIGIN = "http://localhost:8000"
ADMIN_EVENTS = [
    "account:locked",
    "account:unlocked",
    "account:sessions_revoked",
    "account:password_reset_required",
    "account:pending_change:canceled",
]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
async def admin(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_app(
        database_url, tmp_path, delivery_retry_first_seconds=1, webhook_retry_max_seconds=2
    ) as running:
        yield running


async def admin_key(harness: Harness, name: str = KEY_NAME) -> dict[str, str]:
    created = await api_keys.create(harness.app.deps, name, ApiKeyScope.ADMIN)
    return auth(created.key)


async def hook(harness: Harness, key: dict[str, str], url: str) -> str:
    created = await harness.client.post(
        "/v1/admin/webhooks", json={"url": url, "events": ADMIN_EVENTS}, headers=key
    )
    assert created.status_code == 201, created.text
    secret: str = created.json()["secret"]
    return secret


async def scene(
    harness: Harness, receiver: WebhookReceiver
) -> tuple[dict[str, str], str, str, str]:
    """An admin key with a webhook endpoint for the admin events, and Mia signed up: the
    key's header, the endpoint's secret, Mia's session token and her account id."""
    key = await admin_key(harness)
    secret = await hook(harness, key, receiver.url)
    token = await harness.sign_up(EMAIL, PASSWORD)
    return key, secret, token, await account_of(harness, token)


async def one_webhook(
    harness: Harness, receiver: WebhookReceiver, secret: str, event_type: str
) -> dict[str, Any]:
    """The one delivery of ``event_type``: signed, naming the operator, no contact."""
    await harness.deliver()
    received = receiver.inbox.accepted()
    verify_all(received, secret)
    [delivered] = [item for item in received if item.payload["type"] == event_type]
    data: dict[str, Any] = delivered.payload["data"]
    assert data["by"] == "admin_api" and data["operator_kind"] == "api_key"
    assert data["operator_name"] == KEY_NAME
    assert STORED.lower() not in delivered.body.lower()
    return data


async def account_of(harness: Harness, token: str) -> str:
    me = await harness.client.get("/v1/me", headers=auth(token))
    assert me.status_code == 200, me.text
    account_id: str = me.json()["account_id"]
    return account_id


async def sign_in(harness: Harness, name: str = EMAIL, password: str = PASSWORD) -> Any:
    return await harness.client.post(
        "/v1/sessions", json={"sign_in_name": name, "password": password}
    )


async def subjects(harness: Harness, to: str = STORED) -> list[str]:
    return [message["subject"] for message in await harness.mailbox(contact_key(to))]


async def with_phone(harness: Harness, token: str) -> None:
    await harness.step_up(token, EMAIL)
    added = await harness.client.post(
        "/v1/me/security-info", json={"kind": "phone", "value": PHONE}, headers=auth(token)
    )
    assert added.status_code == 201, added.text
    body = added.json()
    verified = await harness.client.post(
        f"/v1/me/security-info/{body['item']['id']}/verify",
        json={
            "verification_id": body["verification"]["id"],
            "code": await harness.latest_code(PHONE),
        },
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text


async def recover(harness: Harness, password: str = NEW_PASSWORD) -> Any:
    """'Forgot password' by email: the code from the mailbox, then a new password."""
    started = (await harness.client.post("/v1/recovery", json={"sign_in_name": EMAIL})).json()
    base = f"/v1/recovery/{started['recovery_id']}"
    contact = next(c for c in started["contacts"] if c["channel"] == "email")
    sent = await harness.client.post(
        f"{base}/send", json={"contact_id": contact["contact_id"], "contact": EMAIL}
    )
    assert sent.status_code == 202, sent.text
    verified = await harness.client.post(
        f"{base}/verify",
        json={
            "verification_id": sent.json()["verification_id"],
            "code": await harness.latest_code(contact_key(EMAIL)),
        },
    )
    assert verified.status_code == 200, verified.text
    return await harness.client.post(f"{base}/reset", json={"new_password": password})


def endpoints(account_id: str) -> list[tuple[str, str]]:
    base = f"/v1/admin/accounts/{account_id}"
    return [
        ("GET", f"/v1/admin/accounts?sign_in_name={PHONE}"),
        ("GET", base),
        ("POST", f"{base}/lock"),
        ("POST", f"{base}/unlock"),
        ("POST", f"{base}/sessions/revoke"),
        ("POST", f"{base}/pending-change/cancel"),
        ("POST", f"{base}/require-password-reset"),
    ]


async def test_only_an_admin_key_reaches_the_accounts(admin: Harness) -> None:
    token = await admin.sign_up(EMAIL, PASSWORD)
    account_id = await account_of(admin, token)
    verification_key = auth(await admin.api_key())
    for method, path in endpoints(account_id):
        missing = await admin.client.request(method, path)
        assert missing.status_code == 401, (method, path)
        assert missing.json()["error"]["code"] == "invalid_api_key"
        refused = await admin.client.request(method, path, headers=verification_key)
        assert refused.status_code == 403, (method, path)
        assert refused.json()["error"]["code"] == "forbidden_scope"
        as_holder = await admin.client.request(method, path, headers=auth(token))
        assert as_holder.status_code == 401, (method, path)  # a session is no API key
    # Nothing was done by any of them.
    view = (
        await admin.client.get(f"/v1/admin/accounts/{account_id}", headers=await admin_key(admin))
    ).json()
    assert view["locked"] is False and view["live_sessions"] == 1
    assert not [e for e in view["recent_activity"] if e["type"] in ADMIN_EVENTS]


async def test_unknown_ids_are_404_account_not_found(admin: Harness) -> None:
    key = await admin_key(admin)
    for method, path in endpoints("acc_unknown")[1:]:
        answer = await admin.client.request(method, path, headers=key)
        assert answer.status_code == 404, (method, path)
        assert answer.json()["error"]["code"] == "account_not_found"


async def test_search_is_normalised_like_sign_in_and_exact(admin: Harness) -> None:
    key = await admin_key(admin)
    mia = await account_of(admin, await admin.sign_up(EMAIL, PASSWORD))
    phone_holder = await account_of(admin, await admin.sign_up(PHONE, PASSWORD))
    cases = {
        "mia.operator@example.com": mia,
        "  MIA.OPERATOR@EXAMPLE.COM ": mia,
        STORED: mia,
        PHONE: phone_holder,
        "+1 415 555 0142": phone_holder,
        "+1 (415) 555-0142": phone_holder,
    }
    for typed, expected in cases.items():
        found = await admin.client.get(
            "/v1/admin/accounts", params={"sign_in_name": typed}, headers=key
        )
        assert found.status_code == 200, found.text
        assert [account["id"] for account in found.json()["accounts"]] == [expected], typed
    hit = (
        await admin.client.get("/v1/admin/accounts", params={"sign_in_name": EMAIL}, headers=key)
    ).json()["accounts"][0]
    assert hit["status"] == "active" and hit["locked"] is False
    assert hit["sign_in_names"] == ["Mi*****@example.com"]
    for near in ("mia.operator@example.co", "mia.operato@example.com", "+14155550143"):
        missed = await admin.client.get(
            "/v1/admin/accounts", params={"sign_in_name": near}, headers=key
        )
        assert missed.status_code == 200 and missed.json() == {"accounts": []}, near
    bad = await admin.client.get(
        "/v1/admin/accounts", params={"sign_in_name": "not a name"}, headers=key
    )
    assert bad.status_code == 422
    assert (await admin.client.get("/v1/admin/accounts", headers=key)).status_code == 422


async def test_the_view_shows_masked_values_only(admin: Harness) -> None:
    key = await admin_key(admin)
    token = await admin.sign_up(EMAIL, PASSWORD)
    account_id = await account_of(admin, token)
    await with_phone(admin, token)
    answer = await admin.client.get(f"/v1/admin/accounts/{account_id}", headers=key)
    assert answer.status_code == 200, answer.text
    view = answer.json()
    text = answer.text.lower()
    for full in (STORED.lower(), "mia.operator", PHONE, PHONE[1:], "5550142"):
        assert full not in text, full
    assert "$argon2" not in text and token.lower() not in text
    assert view["status"] == "active" and view["two_step_enabled"] is False
    assert [name["masked"] for name in view["sign_in_names"]] == ["Mi*****@example.com"]
    masked = {item["kind"]: item["masked"] for item in view["security_info"]}
    assert masked == {"email": "Mi*****@example.com", "phone": "*********42"}
    assert view["pending_change"] is None and view["lock"] is None
    assert view["last_sign_in_at"] is not None and view["live_sessions"] == 1
    types = [event["type"] for event in view["recent_activity"]]
    assert "account:security_info:verified" in types and types[-1] == "account:created"


async def test_a_lock_refuses_every_sign_in_ends_sessions_and_tells_the_holder(
    admin: Harness, receiver: WebhookReceiver
) -> None:
    key, secret, token, account_id = await scene(admin, receiver)
    await admin.step_up(token, EMAIL)
    device = SoftAuthenticator(ORIGIN)
    await register(admin, token, device)

    locked = await admin.client.post(
        f"/v1/admin/accounts/{account_id}/lock",
        json={"reason": "card fraud, ticket 4411"},
        headers=key,
    )
    assert locked.status_code == 200, locked.text
    body = locked.json()
    assert body["locked"] is True and body["live_sessions"] == 0
    assert body["lock"]["reason"] == "card fraud, ticket 4411"
    assert body["lock"]["locked_by"] == KEY_NAME

    # The session ended; no way in: password, passkey, recovery.
    assert (await admin.client.get("/v1/me", headers=auth(token))).status_code == 401
    refused = await sign_in(admin)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "account_locked"
    assert "administrator" in refused.json()["error"]["message"]
    form = await admin.client.get("/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    page = await admin.client.post(
        "/sign-in",
        data={"sign_in_name": EMAIL, "password": PASSWORD, "csrf_token": csrf.group(1)},
    )
    assert page.status_code == 403 and "locked by an administrator" in page.text
    assert "secinfo_session" not in page.headers.get("set-cookie", "")
    wrong = await sign_in(admin, password="not the password 7")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
    request = await sign_in_options(admin)
    by_passkey = await answer_sign_in(admin, request, device.get(request["options"]))
    assert by_passkey.status_code == 403 and by_passkey.json()["error"]["code"] == "account_locked"
    by_recovery = await recover(admin)
    assert by_recovery.status_code == 403
    assert by_recovery.json()["error"]["code"] == "account_locked"
    assert (await sign_in(admin, password=NEW_PASSWORD)).status_code == 401  # not changed

    # The holder is told, without the operator's note.
    mails = await admin.mailbox(contact_key(EMAIL))
    notice = next(m for m in mails if m["subject"] == "Your secinfo account was locked")
    assert "administrator" in notice["body"] and "4411" not in notice["body"]

    again = await admin.client.post(f"/v1/admin/accounts/{account_id}/lock", headers=key)
    assert again.status_code == 409 and again.json()["error"]["code"] == "account_already_locked"

    # One signed webhook, naming the operator, without the operator's note.
    data = await one_webhook(admin, receiver, secret, "account:locked")
    assert data["account_id"] == account_id and data["sessions"] == 1
    assert "4411" not in str(data)


async def test_unlock_restores_sign_in_and_tells_the_holder(
    admin: Harness, receiver: WebhookReceiver
) -> None:
    key, secret, _, account_id = await scene(admin, receiver)
    not_locked = await admin.client.post(f"/v1/admin/accounts/{account_id}/unlock", headers=key)
    assert not_locked.status_code == 409
    assert not_locked.json()["error"]["code"] == "account_not_locked"
    await admin.client.post(f"/v1/admin/accounts/{account_id}/lock", headers=key)
    unlocked = await admin.client.post(f"/v1/admin/accounts/{account_id}/unlock", headers=key)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["locked"] is False and unlocked.json()["lock"] is None

    signed_in = await sign_in(admin)
    assert signed_in.status_code == 201, signed_in.text
    assert "Your secinfo account was unlocked" in await subjects(admin)
    await admin.deliver()
    types = [item.payload["type"] for item in receiver.inbox.accepted()]
    assert types == ["account:locked", "account:unlocked"]
    verify_all(receiver.inbox.accepted(), secret)

    # The holder's activity names the operator's key; the page says it in words.
    new_token = signed_in.json()["token"]
    events = (await admin.client.get("/v1/me/activity", headers=auth(new_token))).json()["events"]
    by_admin = {e["type"]: e["details"] for e in events if e["type"] in ADMIN_EVENTS}
    assert set(by_admin) == {"account:locked", "account:unlocked"}
    assert all(details["api_key_name"] == KEY_NAME for details in by_admin.values())
    page = await admin.client.get(
        "/security/activity", headers={"Cookie": f"secinfo_session={new_token}"}
    )
    assert page.status_code == 200, page.text
    assert page.text.count("By an administrator") == 2
    assert "Account locked" in page.text and "Account unlocked" in page.text


async def test_revoke_sessions_ends_every_session(
    admin: Harness, receiver: WebhookReceiver
) -> None:
    key, secret, first, account_id = await scene(admin, receiver)
    second = (await sign_in(admin)).json()["token"]
    revoked = await admin.client.post(
        f"/v1/admin/accounts/{account_id}/sessions/revoke", headers=key
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"account_id": account_id, "sessions_revoked": 2}
    for token in (first, second):
        assert (await admin.client.get("/v1/me", headers=auth(token))).status_code == 401
    assert "You were signed out of secinfo" in await subjects(admin)
    assert (await sign_in(admin)).status_code == 201  # signing in again works
    assert (await one_webhook(admin, receiver, secret, "account:sessions_revoked"))["sessions"] == 2


async def test_cancel_pending_change_ends_the_waiting_period(
    admin: Harness, receiver: WebhookReceiver
) -> None:
    key, secret, token, account_id = await scene(admin, receiver)
    none = await admin.client.post(
        f"/v1/admin/accounts/{account_id}/pending-change/cancel", headers=key
    )
    assert none.status_code == 409 and none.json()["error"]["code"] == "no_pending_change"

    await admin.step_up(token, EMAIL)
    started = await admin.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    assert started.status_code == 202, started.text
    view = (await admin.client.get(f"/v1/admin/accounts/{account_id}", headers=key)).json()
    change_id = view["pending_change"]["id"]
    assert view["security_info"][0]["state"] == "removal_pending"

    canceled = await admin.client.post(
        f"/v1/admin/accounts/{account_id}/pending-change/cancel", headers=key
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["pending_change"] is None
    assert canceled.json()["security_info"][0]["state"] == "active"
    mine = await admin.client.get("/v1/me/pending-change", headers=auth(token))
    assert mine.status_code == 409 and mine.json()["error"]["code"] == "no_pending_change"
    # The contacts are told as when the holder cancels.
    assert any("canceled" in subject.lower() for subject in await subjects(admin))
    data = await one_webhook(admin, receiver, secret, "account:pending_change:canceled")
    assert data["change_id"] == change_id


async def test_require_password_reset_sends_the_next_sign_in_through_recovery(
    admin: Harness, receiver: WebhookReceiver
) -> None:
    key, secret, token, account_id = await scene(admin, receiver)
    required = await admin.client.post(
        f"/v1/admin/accounts/{account_id}/require-password-reset", headers=key
    )
    assert required.status_code == 200, required.text
    assert required.json()["password_reset_required"] is True
    assert required.json()["live_sessions"] == 0
    assert (await admin.client.get("/v1/me", headers=auth(token))).status_code == 401
    refused = await sign_in(admin)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "password_reset_required"
    twice = await admin.client.post(
        f"/v1/admin/accounts/{account_id}/require-password-reset", headers=key
    )
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "password_reset_already_required"
    assert "Choose a new password for secinfo" in await subjects(admin)

    assert (await recover(admin)).status_code == 204
    assert (await sign_in(admin, password=NEW_PASSWORD)).status_code == 201
    await one_webhook(admin, receiver, secret, "account:password_reset_required")


async def test_every_action_is_in_the_accounts_activity_with_the_operator(
    admin: Harness,
) -> None:
    key = await admin_key(admin, "night shift")
    token = await admin.sign_up(EMAIL, PASSWORD)
    account_id = await account_of(admin, token)
    await admin.step_up(token, EMAIL)
    await admin.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    base = f"/v1/admin/accounts/{account_id}"
    for path in (
        "lock",
        "unlock",
        "sessions/revoke",
        "pending-change/cancel",
        "require-password-reset",
    ):
        answer = await admin.client.post(f"{base}/{path}", headers=key)
        assert answer.status_code == 200, (path, answer.text)
    view = (await admin.client.get(base, headers=key)).json()
    by_operator = [e for e in view["recent_activity"] if e["details"].get("by") == "admin_api"]
    assert sorted(e["type"] for e in by_operator) == sorted(ADMIN_EVENTS)
    assert {e["details"]["operator_name"] for e in by_operator} == {"night shift"}
    assert all(e["ip"] is None and e["user_agent"] is None for e in by_operator)


async def test_the_openapi_document_covers_every_admin_account_endpoint(admin: Harness) -> None:
    document = (await admin.client.get("/openapi.json")).json()
    paths = document["paths"]
    expected = {
        ("get", "/v1/admin/accounts"): {"200", "401", "403", "422"},
        ("get", "/v1/admin/accounts/{account_id}"): {"200", "401", "403", "404"},
        ("post", "/v1/admin/accounts/{account_id}/lock"): {"200", "401", "403", "404", "409"},
        ("post", "/v1/admin/accounts/{account_id}/unlock"): {"200", "401", "403", "404", "409"},
        ("post", "/v1/admin/accounts/{account_id}/sessions/revoke"): {"200", "404", "409"},
        ("post", "/v1/admin/accounts/{account_id}/pending-change/cancel"): {"200", "404", "409"},
        ("post", "/v1/admin/accounts/{account_id}/require-password-reset"): {"200", "409"},
    }
    for (method, path), statuses in expected.items():
        operation = paths[path][method]
        assert operation["security"] == [{"adminKey": []}], path
        assert statuses <= set(operation["responses"]), (path, set(operation["responses"]))
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
    assert "account_locked" in paths["/v1/admin/accounts/{account_id}/lock"]["post"]["description"]
    assert "account_already_locked" in str(paths["/v1/admin/accounts/{account_id}/lock"])


async def test_the_operator_acts_from_the_command_line(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/cli.db"
    async with running_app(database_url, tmp_path) as harness:
        token = await harness.sign_up(EMAIL, PASSWORD)
        account_id = await account_of(harness, token)

    found = run_cli(tmp_path, "accounts", "find", "  MIA.operator@example.com")
    assert found.returncode == 0, found.stderr
    assert account_id in found.stdout and "Mi*****@example.com" in found.stdout
    assert STORED not in found.stdout
    assert run_cli(tmp_path, "accounts", "find", "nobody@example.com").returncode == 1

    locked = run_cli(
        tmp_path, "accounts", "lock", account_id, "--reason", "chargeback", "--operator", "ops-ana"
    )
    assert locked.returncode == 0, locked.stderr
    shown = run_cli(tmp_path, "accounts", "show", account_id)
    assert shown.returncode == 0, shown.stderr
    assert "LOCKED" in shown.stdout and "ops-ana" in shown.stdout and "chargeback" in shown.stdout
    assert STORED not in shown.stdout and "account:locked" in shown.stdout
    twice = run_cli(tmp_path, "accounts", "lock", account_id)
    assert twice.returncode == 1 and "locked already" in twice.stdout

    async with running_app(database_url, tmp_path, fresh=False) as harness:
        refused = await sign_in(harness)
        assert refused.json()["error"]["code"] == "account_locked"

    for command in ("unlock", "revoke-sessions", "require-password-reset"):
        done = run_cli(tmp_path, "accounts", command, account_id)
        assert done.returncode == 0, (command, done.stderr)
    none = run_cli(tmp_path, "accounts", "cancel-pending-change", account_id)
    assert none.returncode == 1 and "no pending" in none.stdout.lower()
    missing = run_cli(tmp_path, "accounts", "show", "acc_nope")
    assert missing.returncode == 1 and "No account with that id" in missing.stdout

    async with running_app(database_url, tmp_path, fresh=False) as harness:
        refused = await sign_in(harness)
        assert refused.json()["error"]["code"] == "password_reset_required"
        async with harness.app.engine.connect() as connection:
            rows = await connection.execute(
                activity_events.select().where(activity_events.c.account_id == account_id)
            )
            by_cli = {
                row.type: json.loads(row.details)
                for row in rows
                if json.loads(row.details).get("by") == "cli"
            }
    assert set(by_cli) == {
        "account:locked",
        "account:unlocked",
        "account:sessions_revoked",
        "account:password_reset_required",
    }
    assert by_cli["account:locked"]["operator_name"] == "ops-ana"
    assert by_cli["account:unlocked"]["operator_name"] == "cli"
