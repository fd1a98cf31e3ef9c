"""Contacts at rest: after the scenarios a stolen database holds no contact value.

Sign-up with an email, an alternate email and a phone, sign-in with another spelling, a
Verify-API code (delivered and one left queued), a Twilio-compatible verification and
its attempts, an export: then every table of the schema is read whole (SELECT *), and the
database's own files too (SQLite: the file, its WAL and shared memory; PostgreSQL: every
relation's heap and index files after a CHECKPOINT, read with pg_read_binary_file). No
contact value is there in any spelling (as typed, folded, upper case; a phone with and
without its "+"). Mail and SMS go to real sinks (an aiosmtpd server, a Twilio-style HTTP
endpoint), so the development mailbox table (development only, not sealed) stays empty.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from secinfo.adapters.migrations import downgrade, migrate
from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.contacts_at_rest import key_index, unseal
from secinfo.adapters.sql.repositories import VALUE
from secinfo.adapters.sql.reseal import reseal
from secinfo.adapters.sql.tables import (
    delivery_attempts,
    dev_mailbox,
    metadata,
    outbox,
    security_info,
    verifications,
)
from secinfo.bootstrap import build
from secinfo.domain.contacts import Channel, contact_key
from secinfo.services import verify_services
from tests.conftest import Harness, auth, make_settings, running_app
from tests.delivery_support import SmsEndpoint, SmtpServer
from tests.support import PostgresDatabase, code_in, unavailable

pytestmark = pytest.mark.anyio

EMAIL = "Ada.AtRest@example.org"
ALTERNATE = "Byron.Vault@example.net"
PHONE = "+14155550142"
VERIFY_EMAIL = "Carol.Integrator@example.com"
VERIFY_PHONE = "+14155550143"
QUEUED_EMAIL = "Dora.Queued@example.com"
TWILIO_PHONE = "+14155550144"
REFUSED_EMAIL = "Eve.Refused@example.com"  # the SMTP server names it in its refusal
PASSWORD = "a long passphrase 1"
CONTACTS = [
    EMAIL,
    ALTERNATE,
    PHONE,
    VERIFY_EMAIL,
    VERIFY_PHONE,
    QUEUED_EMAIL,
    TWILIO_PHONE,
    REFUSED_EMAIL,
]


def spellings(contact: str) -> set[str]:
    """Every form a contact could be stored in: as typed, its key, lower and upper case;
    a phone with and without its "+"."""
    if "@" in contact:
        return {contact, contact_key(contact), contact.lower(), contact.upper()}
    return {contact, contact.lstrip("+")}


NEEDLES = sorted(set().union(*(spellings(contact) for contact in CONTACTS)))


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def sms() -> Iterator[SmsEndpoint]:
    endpoint = SmsEndpoint().start()
    yield endpoint
    endpoint.stop()


class Sinks:
    """Codes as people read them: from the SMTP server's inbox and the SMS endpoint."""

    def __init__(self, harness: Harness, smtp: SmtpServer, sms: SmsEndpoint) -> None:
        self.harness, self.smtp, self.sms = harness, smtp, sms

    async def latest_code(self, to: str) -> str:
        await self.harness.deliver()
        if "@" in to:
            for received in reversed(self.smtp.inbox.received):
                if contact_key(to) in {contact_key(address) for address in received.recipients}:
                    body = received.message.get_body(("plain",))
                    assert body is not None
                    return code_in(body.get_content())
        else:
            for call in reversed(self.sms.calls):
                form = parse_qs(call.body.decode())
                if form.get("To") == [to]:
                    return code_in(form["Body"][0])
        raise AssertionError(f"no code was sent to {to}")


@asynccontextmanager
async def sinks_app(
    database_url: str, tmp_path: Path, smtp: SmtpServer, sms: SmsEndpoint
) -> AsyncIterator[tuple[Harness, Sinks]]:
    async with running_app(
        database_url,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_from_address="no-reply@secinfo.example",
        sms_provider="twilio",
        sms_twilio_base_url=sms.url,
        sms_twilio_account_sid="AC0123456789abcdef",
        sms_twilio_auth_token="tw-auth-token-value",
        sms_from="+15005550006",
        contact_index_key=base64.b64encode(b"i" * 32).decode(),
    ) as harness:
        yield harness, Sinks(harness, smtp, sms)


async def _add(harness: Harness, sinks: Sinks, token: str, kind: str, value: str) -> None:
    added = await harness.client.post(
        "/v1/me/security-info", json={"kind": kind, "value": value}, headers=auth(token)
    )
    assert added.status_code == 201, added.text
    verified = await harness.client.post(
        f"/v1/me/security-info/{added.json()['item']['id']}/verify",
        json={
            "verification_id": added.json()["verification"]["id"],
            "code": await sinks.latest_code(value),
        },
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text


async def _step_up(harness: Harness, sinks: Sinks, token: str) -> None:
    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()
    email = next(item for item in items["items"] if item["kind"] == "email")
    started = await harness.client.post(
        "/v1/me/step-up", json={"security_info_id": email["id"]}, headers=auth(token)
    )
    assert started.status_code == 201, started.text
    checked = await harness.client.post(
        f"/v1/me/step-up/{started.json()['id']}/check",
        json={"code": await sinks.latest_code(EMAIL)},
        headers=auth(token),
    )
    assert checked.status_code == 200, checked.text


async def scenarios(harness: Harness, sinks: Sinks) -> None:
    client = harness.client
    started = await client.post("/v1/accounts", json={"sign_in_name": EMAIL, "password": PASSWORD})
    assert started.status_code == 202, started.text
    confirmed = await client.post(
        "/v1/accounts/confirm",
        json={
            "verification_id": started.json()["verification_id"],
            "code": await sinks.latest_code(EMAIL),
        },
    )
    assert confirmed.status_code == 201, confirmed.text
    token = confirmed.json()["token"]
    await _step_up(harness, sinks, token)
    await _add(harness, sinks, token, "phone", PHONE)
    await _add(harness, sinks, token, "email", ALTERNATE)

    # Names are found by their blind index, in any spelling; the API shows them masked.
    signed_in = await client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL.upper(), "password": PASSWORD}
    )
    assert signed_in.status_code == 201, signed_in.text
    taken = await client.post(
        "/v1/accounts", json={"sign_in_name": contact_key(EMAIL), "password": PASSWORD}
    )
    assert taken.status_code == 202  # no second account (and nothing tells)
    # Above the repositories everything is plain: the export holds the values as typed.
    exported = await client.get("/v1/me/export", headers=auth(token))
    assert exported.status_code == 200, exported.text
    values = {item["value"] for item in exported.json()["security_info"]}
    assert {EMAIL, ALTERNATE, PHONE} <= values

    # The Verify API: codes delivered and checked; a second start finds the pending one.
    key = await harness.api_key()
    for to, channel in ((VERIFY_EMAIL, "email"), (VERIFY_PHONE, "sms")):
        sent = await client.post(
            "/v1/verifications", json={"to": to, "channel": channel}, headers=auth(key)
        )
        assert sent.status_code == 201, sent.text
        checked = await client.post(
            f"/v1/verifications/{sent.json()['id']}/check",
            json={"code": await sinks.latest_code(to)},
            headers=auth(key),
        )
        assert checked.status_code == 200, checked.text
        assert checked.json()["status"] == "approved", checked.text

    # The Twilio-compatible front end: start, check by To, list attempts by country.
    credentials = await verify_services.create_credentials(harness.app.deps, "at rest")
    basic = httpx.BasicAuth(credentials.account.sid, credentials.auth_token)
    service = await client.post("/twilio/v2/Services", data={"FriendlyName": "Vault"}, auth=basic)
    assert service.status_code == 201, service.text
    sid = service.json()["sid"]
    started_twilio = await client.post(
        f"/twilio/v2/Services/{sid}/Verifications",
        data={"To": TWILIO_PHONE, "Channel": "sms"},
        auth=basic,
    )
    assert started_twilio.status_code == 201, started_twilio.text
    assert started_twilio.json()["to"] != TWILIO_PHONE  # masked
    checked_twilio = await client.post(
        f"/twilio/v2/Services/{sid}/VerificationCheck",
        data={"To": TWILIO_PHONE, "Code": await sinks.latest_code(TWILIO_PHONE)},
        auth=basic,
    )
    assert checked_twilio.status_code == 200, checked_twilio.text
    assert checked_twilio.json()["status"] == "approved"
    # Destinations are sealed: the country filter opens them (after delivery, too).
    in_us = await client.get("/twilio/v2/Attempts", params={"Country": "US"}, auth=basic)
    assert in_us.status_code == 200, in_us.text
    assert len(in_us.json()["attempts"]) == 1
    in_gb = await client.get("/twilio/v2/Attempts", params={"Country": "GB"}, auth=basic)
    assert in_gb.json()["attempts"] == []
    # A refusal that names the address: the error is stored with the address masked.
    sinks.smtp.inbox.refuse[REFUSED_EMAIL] = (
        f"550 5.1.1 <{REFUSED_EMAIL}>: Recipient address rejected"
    )
    refused = await client.post(
        "/v1/verifications", json={"to": REFUSED_EMAIL, "channel": "email"}, headers=auth(key)
    )
    assert refused.status_code == 201, refused.text
    await harness.deliver()
    # And one code not delivered yet: its destination is sealed, not wiped.
    queued = await client.post(
        "/v1/verifications", json={"to": QUEUED_EMAIL, "channel": "email"}, headers=auth(key)
    )
    assert queued.status_code == 201, queued.text


async def dumped_tables(harness: Harness) -> list[tuple[str, str]]:
    """Every column of every row of every table in the schema, as text."""
    found = []
    async with harness.app.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in await connection.execute(sa.select(table)):
                for column, value in row._mapping.items():
                    if value is not None:
                        found.append((f"{table.name}.{column}", str(value)))
    return found


async def database_files(harness: Harness) -> dict[str, bytes]:
    """The bytes the database keeps on disk for this schema."""
    engine = harness.app.engine
    if engine.dialect.name == "sqlite":
        path = Path(make_url(str(engine.url)).database or "")
        return {
            str(candidate): candidate.read_bytes()
            for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
            if candidate.exists()
        }
    files = {}
    async with engine.connect() as connection:
        await connection.execute(sa.text("CHECKPOINT"))
        # The schema's tables and indexes, and the TOAST relations (in pg_toast) of its
        # tables.
        relations = await connection.execute(
            sa.text(
                "SELECT c.relname, pg_relation_filepath(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i', 't') "
                "UNION ALL "
                "SELECT t.relname, pg_relation_filepath(t.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_class t ON t.oid = c.reltoastrelid "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
        )
        for name, filepath in relations.all():
            if filepath is None:
                continue
            data = await connection.scalar(
                sa.text("SELECT pg_read_binary_file(CAST(:path AS text), 0, 268435456, true)"),
                {"path": filepath},
            )
            if data:
                files[f"{name} ({filepath})"] = bytes(data)
    return files


async def test_a_stolen_database_holds_no_contact_value(
    database_url: str, tmp_path: Path, smtp: SmtpServer, sms: SmsEndpoint
) -> None:
    async with sinks_app(database_url, tmp_path, smtp, sms) as (harness, sinks):
        await scenarios(harness, sinks)
        rows = await dumped_tables(harness)
        async with harness.app.engine.connect() as connection:
            assert await connection.scalar(sa.select(sa.func.count()).select_from(dev_mailbox)) == 0
            statuses = dict(
                (
                    await connection.execute(
                        sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
                    )
                ).all()
            )
            stored = (await connection.execute(sa.select(security_info))).all()
            errors = list(await connection.scalars(sa.select(delivery_attempts.c.error)))
        files = await database_files(harness)
        box = harness.app.box

    # The scenarios did reach the database: sent messages, one still queued, the names.
    assert statuses.get("sent", 0) >= 7 and statuses.get("queued") == 1, statuses
    assert statuses.get("dead") == 1, statuses
    assert [e for e in errors if e and "Ev*****@example.com" in e and "rejected" in e], errors
    assert {unseal(box, VALUE, row.id, row.value) for row in stored} >= {EMAIL, ALTERNATE, PHONE}
    assert {row.value_key for row in stored} >= {key_index(box, EMAIL), key_index(box, PHONE)}
    assert files and sum(len(data) for data in files.values()) > 10_000
    # A sealed value is bound to its row: copied onto another row it does not open.
    first, second = stored[0], stored[1]
    with pytest.raises(InvalidTag):
        unseal(box, VALUE, second.id, first.value)

    hits = [
        (column, needle)
        for column, text in rows
        for needle in NEEDLES
        if needle.lower() in text.lower()
    ]
    assert hits == [], hits
    file_hits = [
        (name, needle)
        for name, data in files.items()
        for needle in NEEDLES
        if needle.lower().encode() in data.lower()
    ]
    assert file_hits == [], file_hits


# -- migration 0014: existing rows sealed, and opened back on downgrade ------------------

BEFORE = "0012_account_locks"


async def _plain_rows(connection: AsyncConnection, now: datetime) -> None:
    """Rows as the service stored them before contacts were sealed."""
    await connection.execute(
        sa.text(
            "INSERT INTO accounts (id, password_hash, status, locale, created_at) "
            "VALUES ('acc_1', 'x', 'active', 'en', :now)"
        ),
        {"now": now},
    )
    for item_id, value, key in (
        ("inf_1", EMAIL, contact_key(EMAIL)),
        ("inf_2", PHONE, PHONE),
    ):
        await connection.execute(
            sa.text(
                "INSERT INTO security_info (id, account_id, kind, value, value_key, state, "
                "sign_in, added_at) VALUES (:id, 'acc_1', :kind, :value, :key, 'active', "
                ":yes, :now)"
            ),
            {
                "id": item_id,
                "kind": "email" if "@" in value else "phone",
                "value": value,
                "key": key,
                "yes": True,
                "now": now,
            },
        )
    await connection.execute(
        sa.text(
            "INSERT INTO verifications (id, purpose, channel, destination, status, api_key_id, "
            "locale, check_attempts, send_attempts, codes, created_at, expires_at, version) "
            "VALUES ('ver_1', 'integrator', 'email', :to, 'pending', 'key_1', 'en', 0, 1, "
            "'[]', :now, :now, 1)"
        ),
        {"to": VERIFY_EMAIL, "now": now},
    )
    for message_id, status in (("msg_sent", "sent"), ("msg_queued", "queued")):
        await connection.execute(
            sa.text(
                "INSERT INTO outbox (id, channel, destination, template, locale, subject, body, "
                "carries_secret, verification_id, status, attempts, created_at, "
                "next_attempt_at) VALUES (:id, 'email', :to, 'code', 'en', 's', 'b', :no, "
                "'ver_1', :status, 0, :now, :now)"
            ),
            {"id": message_id, "to": VERIFY_EMAIL, "status": status, "no": False, "now": now},
        )


async def test_the_migration_seals_stored_contacts_and_the_downgrade_opens_them(
    tmp_path: Path,
) -> None:
    for backend in ("sqlite", "postgresql"):
        database = None
        url = f"sqlite:///{tmp_path}/old.db"
        if backend == "postgresql":
            database = PostgresDatabase()
            try:
                await asyncio.to_thread(database.create)
            except Exception as error:
                unavailable("PostgreSQL", error)
            url = database.url
        app = build(make_settings(url, tmp_path))
        try:
            await migrate(app.engine, BEFORE)
            async with app.engine.begin() as connection:
                await _plain_rows(connection, app.deps.clock.now())
            with pytest.raises(RuntimeError, match="needs the keys"):
                await migrate(app.engine)  # without the service's keys: refused, unchanged
            await migrate(app.engine, box=app.box)
            box = app.box
            async with app.engine.connect() as connection:
                items = {row.id: row for row in await connection.execute(sa.select(security_info))}
                [verification] = (await connection.execute(sa.select(verifications))).all()
                messages = {row.id: row for row in await connection.execute(sa.select(outbox))}
            assert unseal(box, VALUE, "inf_1", items["inf_1"].value) == EMAIL
            assert items["inf_1"].value_key == key_index(box, EMAIL)
            assert verification.destination_lookup == box.blind_index(VERIFY_EMAIL)
            assert messages["msg_sent"].destination == ""  # delivered: wiped
            assert messages["msg_sent"].destination_masked == "Ca*****@example.com"
            assert SecretBox.is_sealed(messages["msg_queued"].destination)
            dumped = json.dumps(
                [list(map(str, row)) for row in [*items.values(), verification, *messages.values()]]
            )
            assert not [n for n in NEEDLES if n.lower() in dumped.lower()]
            # The service finds them: the sign-in name by any spelling, the pending code.
            async with app.deps.uow() as uow:
                found = await uow.security_info.find_sign_in_name(EMAIL.upper())
                assert found is not None and found.value == EMAIL
                pending = await uow.verifications.pending_for_api_key(
                    "key_1", Channel.EMAIL, VERIFY_EMAIL
                )
                assert pending is not None and pending.destination == VERIFY_EMAIL

            await downgrade(app.engine, BEFORE, box=box)
            async with app.engine.connect() as connection:
                values = dict(
                    (await connection.execute(sa.text("SELECT id, value FROM security_info"))).all()
                )
                keys = dict(
                    (
                        await connection.execute(sa.text("SELECT id, value_key FROM security_info"))
                    ).all()
                )
                destinations = dict(
                    (await connection.execute(sa.text("SELECT id, destination FROM outbox"))).all()
                )
            assert values == {"inf_1": EMAIL, "inf_2": PHONE}
            assert keys == {"inf_1": contact_key(EMAIL), "inf_2": PHONE}
            assert destinations == {"msg_sent": "Ca*****@example.com", "msg_queued": VERIFY_EMAIL}
        finally:
            await app.close()
            if database is not None:
                await asyncio.to_thread(database.drop)


# -- rotation: a new key in front, `secinfo keys reseal`, the old key dropped -------------

OLD_KEY = base64.b64encode(b"o" * 32).decode()
NEW_KEY = base64.b64encode(b"n" * 32).decode()


async def test_after_reseal_the_old_key_can_go_and_lookups_still_work(
    database_url: str, tmp_path: Path
) -> None:
    async with running_app(database_url, tmp_path, encryption_keys=OLD_KEY) as harness:
        token = await harness.sign_up(EMAIL)
        key = await harness.api_key()
        sent = await harness.client.post(
            "/v1/verifications", json={"to": VERIFY_EMAIL, "channel": "email"}, headers=auth(key)
        )
        assert sent.status_code == 201, sent.text
    async with running_app(
        database_url, tmp_path, fresh=False, encryption_keys=f"{NEW_KEY},{OLD_KEY}"
    ) as harness:
        counts = await reseal(harness.app.engine, harness.app.box)
        assert counts["security_info.value"] == 1 and counts["verifications.destination"] >= 2
        assert await reseal(harness.app.engine, harness.app.box) == dict.fromkeys(counts, 0)
    async with running_app(database_url, tmp_path, fresh=False, encryption_keys=NEW_KEY) as harness:
        me = await harness.client.get("/v1/me", headers=auth(token))
        assert me.status_code == 200, me.text  # the old key is gone: all still opens
        signed_in = await harness.client.post(
            "/v1/sessions", json={"sign_in_name": EMAIL.lower(), "password": PASSWORD}
        )
        assert signed_in.status_code == 201, signed_in.text  # the blind index did not change
