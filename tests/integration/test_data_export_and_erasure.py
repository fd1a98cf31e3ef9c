"""Data rights over HTTP on SQLite and PostgreSQL: the holder downloads everything held
(unmasked, never a secret), closes the account (step-up and password), a sign-in within
the grace period cancels it, and after it the scheduler erases the personal data: a
search of every text column of every table finds none of it, and another account's data
is untouched."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.contacts_at_rest import key_index
from secinfo.adapters.sql.tables import outbox
from secinfo.domain.contacts import contact_key
from secinfo.domain.data_rights import ANONYMOUS_DETAIL_KEYS, WEBHOOK_DATA_KEYS
from secinfo.domain.model import ApiKeyScope
from secinfo.scheduler import run_jobs_once
from secinfo.services import api_keys, data_rights, webhooks
from tests.conftest import Harness, auth, running_app
from tests.integration.test_cli import run_cli
from tests.integration.test_passkeys import register
from tests.support import code_in
from tests.webauthn_authenticator import SoftAuthenticator

pytestmark = pytest.mark.anyio

PASSWORD = "a long passphrase 1"
# One person, in the spellings people type: the stored forms differ in case.
EMAIL = "Zoe.Erased@Example.COM"
PHONE = "+14155550177"
OTHER_EMAIL = "keep.me@example.org"
IP = "198.51.100.23"
USER_AGENT = "ZoeBrowser/7.7 (erasure test)"
LABEL = "Zoe Erasmus work phone"
BILLING_NAME = "Zoe Erasmus-Quinn"


def client_from(harness: Harness, ip: str, user_agent: str) -> httpx.AsyncClient:
    app = harness.client._transport.app  # type: ignore[attr-defined]
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(ip, 40000)),
        base_url="http://secinfo.test",
        headers={"User-Agent": user_agent},
    )


async def sign_up(harness: Harness, client: httpx.AsyncClient, email: str) -> str:
    started = await client.post("/v1/accounts", json={"sign_in_name": email, "password": PASSWORD})
    assert started.status_code == 202, started.text
    confirmed = await client.post(
        "/v1/accounts/confirm",
        json={
            "verification_id": started.json()["verification_id"],
            "code": await harness.latest_code(contact_key(email)),
        },
    )
    assert confirmed.status_code == 201, confirmed.text
    return str(confirmed.json()["token"])


async def step_up(harness: Harness, client: httpx.AsyncClient, token: str, to: str) -> None:
    items = (await client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    item = next(item for item in items if item["kind"] == "email")
    started = await client.post(
        "/v1/me/step-up", json={"security_info_id": item["id"]}, headers=auth(token)
    )
    assert started.status_code == 201, started.text
    checked = await client.post(
        f"/v1/me/step-up/{started.json()['id']}/check",
        json={"code": await harness.latest_code(to)},
        headers=auth(token),
    )
    assert checked.status_code == 200, checked.text


async def add_phone(harness: Harness, client: httpx.AsyncClient, token: str) -> None:
    added = (
        await client.post(
            "/v1/me/security-info",
            json={"kind": "phone", "value": PHONE, "label": LABEL},
            headers=auth(token),
        )
    ).json()
    verified = await client.post(
        f"/v1/me/security-info/{added['item']['id']}/verify",
        json={
            "verification_id": added["verification"]["id"],
            "code": await harness.latest_code(PHONE),
        },
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text


async def zoe(harness: Harness) -> tuple[httpx.AsyncClient, str, str]:
    """Zoe's account: an email (typed with capitals), a labelled phone, a billing name,
    a Verify-API code to her phone; signed in from her own IP and browser."""
    client = client_from(harness, IP, USER_AGENT)
    token = await sign_up(harness, client, EMAIL)
    await step_up(harness, client, token, contact_key(EMAIL))
    await add_phone(harness, client, token)
    me = (await client.get("/v1/me", headers=auth(token))).json()
    key = await harness.api_key()
    billed = await harness.client.put(
        f"/v1/accounts/{me['account_id']}/billing",
        json={"profile": {"name": BILLING_NAME, "city": "Lisbon"}},
        headers=auth(key),
    )
    assert billed.status_code == 200, billed.text
    sent = await harness.client.post(
        "/v1/verifications", json={"to": PHONE, "channel": "sms"}, headers=auth(key)
    )
    assert sent.status_code == 201, sent.text
    await harness.deliver()
    return client, token, str(me["account_id"])


async def test_export_needs_step_up_and_holds_everything_unmasked_but_no_secret(
    harness: Harness,
) -> None:
    client, token, account_id = await zoe(harness)
    added = await client.post(
        "/v1/me/security-info",
        json={"kind": "recovery_code"},
        headers=auth(token),
    )
    assert added.status_code == 201, added.text
    recovery_code = added.json()["recovery_code"]
    codes = [code_in(m["body"]) for m in await harness.mailbox(PHONE) if "#" in m["body"]]
    codes += [
        code_in(m["body"])
        for m in await harness.mailbox(contact_key(EMAIL))
        if "code is" in m["body"]
    ]
    assert len(codes) >= 3

    harness.clock.advance(minutes=11)  # the step-up window is over
    refused = await client.get("/v1/me/export", headers=auth(token))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"

    await step_up(harness, client, token, contact_key(EMAIL))
    answer = await client.get("/v1/me/export", headers=auth(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert account_id in answer.headers["content-disposition"]
    document = answer.json()
    text = answer.text

    assert document["format"] == "secinfo.export/1"
    assert document["account"]["id"] == account_id
    values = {item["kind"]: item["value"] for item in document["security_info"]}
    assert values["email"] == "Zoe.Erased@example.com"  # unmasked, as stored
    assert values["phone"] == PHONE
    assert values["recovery_code"] is None
    assert [name["value"] for name in document["sign_in_names"]] == ["Zoe.Erased@example.com"]
    assert any(item["label"] == LABEL for item in document["security_info"])
    assert {session["ip"] for session in document["sessions"]} == {IP}
    assert USER_AGENT in {event["user_agent"] for event in document["activity"]}
    assert document["billing_profile"] == {"name": BILLING_NAME, "city": "Lisbon"}
    # Messages: type, channel, time, status; the Verify-API code to her phone too.
    types = {(message["type"], message["channel"]) for message in document["messages"]}
    assert ("code_sign_up", "email") in types and ("code_add_info", "sms") in types
    assert ("code_integrator", "sms") in types
    for message in document["messages"]:
        assert set(message) == {
            "id",
            "type",
            "channel",
            "to",
            "created_at",
            "sent_at",
            "status",
            "attempts",
        }
        assert message["status"] == "sent"
    # Never a secret: no code, no code hash, no recovery code, no password hash, no token.
    for code in codes:
        assert f'"{code}"' not in text and f" {code}" not in text
    assert recovery_code not in text and recovery_code.replace("-", "") not in text
    assert "$argon2" not in text and token not in text
    for field in ("password_hash", "secret", "codes", "code_hash", "token_hash", "body"):
        assert f'"{field}"' not in text

    # The download is itself recorded, and the contacts are told.
    activity = (await client.get("/v1/me/activity", headers=auth(token))).json()["events"]
    assert activity[0]["type"] == "account:data:exported"
    subjects = [m["subject"] for m in await harness.mailbox(contact_key(EMAIL))]
    assert "A copy of your secinfo data was downloaded" in subjects


async def webhook_bodies(harness: Harness, account_id: str) -> list[str]:
    async with harness.app.engine.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT body FROM outbox WHERE channel = 'webhook'")
        )
        return [row.body for row in rows if account_id in row.body]


async def messages_to(harness: Harness, contact: str) -> list[str]:
    """The outbox rows to ``contact`` (any spelling), by its key's blind index."""
    async with harness.app.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(outbox.c.id).where(
                outbox.c.destination_key == key_index(harness.app.box, contact)
            )
        )
        return [row.id for row in rows]


def _opened(box: SecretBox, table: str, column: str, row_id: object, text: str) -> str:
    """What the service reads from a sealed value: contacts are bound to their table,
    column and row, bodies and secrets to their row."""
    if not SecretBox.is_sealed(text):
        return text
    for associated in (f"{table}.{column}:{row_id}", str(row_id)):
        try:
            return box.open(text, associated)
        except (ValueError, InvalidTag):
            continue
    return text


async def search(harness: Harness, needles: list[str]) -> list[tuple[str, str, str]]:
    """Every text and binary column of every table (reflected, not listed by hand),
    searched case-insensitively for each needle, sealed values opened with the
    service's keys: what the service holds, not only what a thief could read."""
    metadata = sa.MetaData()
    async with harness.app.engine.connect() as connection:
        await connection.run_sync(lambda sync: metadata.reflect(sync))
        hits = []
        for table in metadata.sorted_tables:
            columns = [
                column
                for column in table.columns
                if isinstance(column.type, sa.String | sa.Text | sa.LargeBinary | sa.JSON)
            ]
            if not columns:
                continue
            for row in await connection.execute(sa.select(*columns)):
                row_id = row._mapping.get("id")
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = _opened(
                        harness.app.box,
                        table.name,
                        column.name,
                        row_id,
                        value.decode("utf-8", "replace")
                        if isinstance(value, bytes)
                        else str(value),
                    )
                    for needle in needles:
                        if needle.lower() in text.lower():
                            hits.append((table.name, column.name, needle))
    assert len(metadata.tables) >= 15  # the search did see the schema
    return hits


async def test_closing_waits_the_grace_period_then_erases_everything_about_the_person(
    harness: Harness,
) -> None:
    await harness.sign_up(OTHER_EMAIL)
    # An integrator's webhook endpoint (down): payloads carry item ids, masked values, labels.
    await webhooks.create(harness.app.deps, "http://127.0.0.1:9/hooks", ["*"])
    client, token, account_id = await zoe(harness)
    needles = [EMAIL, contact_key(EMAIL), PHONE, PHONE.lstrip("+"), IP, USER_AGENT, LABEL]
    needles.append(BILLING_NAME)
    # The integrator's webhook payloads point at her security info items.
    assert any('"item_id"' in body for body in await webhook_bodies(harness, account_id))
    # Delivered messages' destinations are wiped (contacts at rest): the outbox keeps
    # only their masked form and their key's index, which erasure clears too.
    assert await messages_to(harness, EMAIL)
    assert {hit[0] for hit in await search(harness, needles)} >= {
        "security_info",
        "sessions",
        "activity_events",
        "verifications",
        "billing_profiles",
        "dev_mailbox",
    }
    before_other = await search(harness, [OTHER_EMAIL])

    # Closing needs a recent step-up and the password.
    harness.clock.advance(minutes=11)
    refused = await client.request(
        "DELETE", "/v1/me", json={"password": PASSWORD}, headers=auth(token)
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"
    await step_up(harness, client, token, contact_key(EMAIL))
    wrong = await client.request(
        "DELETE", "/v1/me", json={"password": "not the password"}, headers=auth(token)
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    closed = await client.request(
        "DELETE", "/v1/me", json={"password": PASSWORD}, headers=auth(token)
    )
    assert closed.status_code == 202, closed.text
    assert closed.json()["status"] == "closed"
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401
    for to in (contact_key(EMAIL), PHONE):
        notices = [m for m in await harness.mailbox(to) if "closed" in m["body"]]
        assert notices, f"{to} was not told"

    # Not yet: the scheduler waits for the grace period.
    harness.clock.advance(days=29)
    assert (await run_jobs_once(harness.app.deps))["accounts_erased"] == 0
    harness.clock.advance(days=1, minutes=1)
    assert (await run_jobs_once(harness.app.deps))["accounts_erased"] == 1
    assert (await run_jobs_once(harness.app.deps))["accounts_erased"] == 0

    assert await search(harness, needles) == []
    assert await messages_to(harness, EMAIL) == []
    # The integrator still learns what happened to the account, and that it was erased.
    bodies = [json.loads(body) for body in await webhook_bodies(harness, account_id)]
    assert "account:erased" in {body["type"] for body in bodies}
    assert all(set(body["data"]) <= WEBHOOK_DATA_KEYS for body in bodies)
    assert await search(harness, [OTHER_EMAIL]) == before_other  # another's data untouched
    other = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": OTHER_EMAIL, "password": PASSWORD}
    )
    assert other.status_code == 201, other.text
    signed_in = await client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
    )
    assert signed_in.status_code == 401

    # What remains is anonymous: the account row, and events that name no one.
    async with harness.app.engine.connect() as connection:
        account = (
            await connection.execute(
                sa.text("SELECT status, password_hash FROM accounts WHERE id = :id"),
                {"id": account_id},
            )
        ).one()
        events = (
            await connection.execute(
                sa.text(
                    "SELECT type, ip, user_agent, details FROM activity_events WHERE account_id = :id"
                ),
                {"id": account_id},
            )
        ).all()
    assert tuple(account) == ("erased", "")
    assert events and all(event.ip is None and event.user_agent is None for event in events)
    assert all(set(json.loads(event.details)) <= ANONYMOUS_DETAIL_KEYS for event in events)
    assert events[-1].type == "account:erased"

    # Idempotent: erasing again (the operator's way) changes nothing.
    again = await data_rights.erase_account(harness.app.deps, account_id, by="tests")
    assert not again.erased


async def test_signing_in_within_the_grace_period_cancels_the_closure(harness: Harness) -> None:
    client, token, _ = await zoe(harness)
    closed = await client.request(
        "DELETE", "/v1/me", json={"password": PASSWORD}, headers=auth(token)
    )
    assert closed.status_code == 202, closed.text
    harness.clock.advance(days=20)
    signed_in = await client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
    )
    assert signed_in.status_code == 201, signed_in.text
    assert signed_in.json()["closure_canceled"] is True
    subjects = [m["subject"] for m in await harness.mailbox(contact_key(EMAIL))]
    assert "Your secinfo account stays open" in subjects

    harness.clock.advance(days=20)
    assert (await run_jobs_once(harness.app.deps))["accounts_erased"] == 0
    fresh = signed_in.json()["token"]
    me = await client.get("/v1/me", headers=auth(fresh))
    assert me.status_code == 200
    assert {item["kind"] for item in me.json()["security_info"]} == {"email", "phone"}
    again = await client.post("/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD})
    assert again.json()["closure_canceled"] is False
    events = (await client.get("/v1/me/activity", headers=auth(fresh))).json()["events"]
    assert "account:closure:canceled" in {event["type"] for event in events}


async def test_an_operator_erases_at_once_and_a_shared_address_stays_with_its_other_holder(
    harness: Harness,
) -> None:
    other_token = await harness.sign_up(OTHER_EMAIL)
    client, token, account_id = await zoe(harness)
    # Zoe also uses the other person's address as her security info (a shared mailbox).
    added = (
        await client.post(
            "/v1/me/security-info",
            json={"kind": "email", "value": OTHER_EMAIL},
            headers=auth(token),
        )
    ).json()
    verified = await client.post(
        f"/v1/me/security-info/{added['item']['id']}/verify",
        json={
            "verification_id": added["verification"]["id"],
            "code": await harness.latest_code(OTHER_EMAIL),
        },
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text
    exported = await data_rights.export_account(harness.app.deps, account_id, by="tests")
    assert OTHER_EMAIL in {item["value"] for item in exported["security_info"]}

    erased = await data_rights.erase_account(harness.app.deps, account_id, by="tests")
    assert erased.erased and erased.rows["security_info"] >= 3
    assert await search(harness, [EMAIL, contact_key(EMAIL), PHONE, IP, USER_AGENT, LABEL]) == []
    # The other holder keeps the address and the messages sent to it for herself.
    hits = await search(harness, [OTHER_EMAIL])
    assert {hit[0] for hit in hits} >= {"security_info"}
    assert await messages_to(harness, OTHER_EMAIL)  # delivered: kept by its key's index
    assert (await harness.client.get("/v1/me", headers=auth(other_token))).status_code == 200
    assert await harness.latest_code(OTHER_EMAIL)  # her sign-up code is still in her mailbox
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401


async def test_the_openapi_document_covers_export_and_closing(harness: Harness) -> None:
    spec = (await harness.client.get("/openapi.json")).json()
    export = spec["paths"]["/v1/me/export"]["get"]
    assert export["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ExportOut"
    )
    assert {"401", "403"} <= set(export["responses"])
    assert export["security"] == [{"session": []}]
    assert export["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    close = spec["paths"]["/v1/me"]["delete"]
    assert {"202", "401", "403", "409"} <= set(close["responses"])
    admin_export = spec["paths"]["/v1/admin/accounts/{account_id}/export"]["get"]
    assert {"200", "401", "403", "404"} <= set(admin_export["responses"])
    assert admin_export["security"] == [{"adminKey": []}]
    admin_erase = spec["paths"]["/v1/admin/accounts/{account_id}"]["delete"]
    assert admin_erase["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/ErasureOut")
    assert close["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CloseAccountRequest"
    )
    assert "closure_canceled" in spec["components"]["schemas"]["SessionOut"]["properties"]


async def test_the_operator_exports_and_erases_from_the_command_line(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/cli.db"
    async with running_app(database_url, tmp_path) as harness:
        await harness.sign_up(EMAIL)
        async with harness.app.engine.connect() as connection:
            account_id = (await connection.execute(sa.text("SELECT id FROM accounts"))).scalar()
    assert account_id

    exported = run_cli(tmp_path, "accounts", "export", account_id)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["security_info"][0]["value"] == "Zoe.Erased@example.com"
    written = run_cli(tmp_path, "accounts", "export", account_id, "-o", str(tmp_path / "z.json"))
    assert written.returncode == 0 and (tmp_path / "z.json").exists()

    declined = run_cli(tmp_path, "accounts", "erase", account_id, stdin="n\n")
    assert declined.returncode == 1 and "Aborted" in declined.stdout + declined.stderr
    assert "Zoe.Erased@example.com" in run_cli(tmp_path, "accounts", "export", account_id).stdout

    erased = run_cli(tmp_path, "accounts", "erase", account_id, stdin="y\n")
    assert erased.returncode == 0, erased.stderr
    assert f"Erased {account_id}" in erased.stdout
    after = run_cli(tmp_path, "accounts", "export", account_id)
    assert json.loads(after.stdout)["account"]["status"] == "erased"
    assert "zoe" not in after.stdout.lower()
    twice = run_cli(tmp_path, "accounts", "erase", account_id, "--yes")
    assert twice.returncode == 0 and "already erased" in twice.stdout
    missing = run_cli(tmp_path, "accounts", "erase", "acc_nope", "--yes")
    assert missing.returncode == 1 and "No account with that id" in missing.stdout


async def test_the_admin_api_exports_and_erases_with_an_admin_key_only(harness: Harness) -> None:
    client, token, account_id = await zoe(harness)
    await step_up(harness, client, token, contact_key(EMAIL))
    await register(harness, token, SoftAuthenticator(), label="Zoe Erasmus laptop key")
    async with harness.app.engine.connect() as connection:
        passkey = (
            await connection.execute(
                sa.text(
                    "SELECT credential_id, public_key, passkey_user_handle FROM security_info "
                    "JOIN accounts ON accounts.id = security_info.account_id "
                    "WHERE kind = 'passkey'"
                )
            )
        ).one()
    passkey_needles = [value for value in passkey if value]
    assert len(passkey_needles) == 3
    admin = (await api_keys.create(harness.app.deps, "dpo desk", ApiKeyScope.ADMIN)).key
    verification_key = await harness.api_key()

    for method, path in (
        ("GET", f"/v1/admin/accounts/{account_id}/export"),
        ("DELETE", f"/v1/admin/accounts/{account_id}"),
    ):
        assert (await harness.client.request(method, path)).status_code == 401
        forbidden = await harness.client.request(method, path, headers=auth(verification_key))
        assert forbidden.status_code == 403, forbidden.text
        assert forbidden.json()["error"]["code"] == "forbidden_scope"
        holder = await harness.client.request(method, path, headers=auth(token))
        assert holder.status_code == 401
    missing = await harness.client.get("/v1/admin/accounts/acc_nope/export", headers=auth(admin))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"

    exported = await harness.client.get(
        f"/v1/admin/accounts/{account_id}/export", headers=auth(admin)
    )
    assert exported.status_code == 200, exported.text
    assert "attachment" in exported.headers["content-disposition"]
    values = {item["value"] for item in exported.json()["security_info"]}
    assert values == {"Zoe.Erased@example.com", PHONE, None}  # the passkey has no value
    for value in passkey_needles:
        assert value not in exported.text
    events = (await client.get("/v1/me/activity", headers=auth(token))).json()["events"]
    assert events[0]["type"] == "account:data:exported"
    assert events[0]["details"]["api_key_name"] == "dpo desk"

    erased = await harness.client.delete(f"/v1/admin/accounts/{account_id}", headers=auth(admin))
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] is True and erased.json()["rows"]["security_info"] == 2
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401
    needles = [EMAIL, contact_key(EMAIL), PHONE, IP, USER_AGENT, LABEL, "Zoe Erasmus laptop key"]
    assert await search(harness, needles + passkey_needles) == []
    again = await harness.client.delete(f"/v1/admin/accounts/{account_id}", headers=auth(admin))
    assert again.status_code == 200
    assert again.json()["erased"] is False and again.json()["rows"] == {}
    assert again.json()["erased_at"] == erased.json()["erased_at"]
    after = await harness.client.get(f"/v1/admin/accounts/{account_id}/export", headers=auth(admin))
    assert after.json()["account"]["status"] == "erased"
    assert after.json()["security_info"][0]["value"].startswith("erased:")


async def test_concurrent_erasures_erase_once(harness: Harness) -> None:
    client, token, account_id = await zoe(harness)
    closed = await client.request(
        "DELETE", "/v1/me", json={"password": PASSWORD}, headers=auth(token)
    )
    assert closed.status_code == 202
    harness.clock.advance(days=31)
    deps = harness.app.deps
    results = await asyncio.gather(
        data_rights.erase_account(deps, account_id, by="tests"),
        data_rights.erase_account(deps, account_id, by="tests"),
        data_rights.erase_due(deps),
    )
    erased = [result.erased for result in results[:2]] + [results[2] == 1]
    assert erased.count(True) == 1, results
    async with harness.app.engine.connect() as connection:
        count = await connection.scalar(
            sa.text(
                "SELECT count(*) FROM activity_events WHERE account_id = :id "
                "AND type = 'account:erased'"
            ),
            {"id": account_id},
        )
    assert count == 1
    assert await search(harness, [EMAIL, contact_key(EMAIL), PHONE, IP, USER_AGENT]) == []
