"""One mailbox is one mailbox (issue 11 item 1), on SQLite and PostgreSQL: names are
compared and keyed on their case-folded, NFKC-normalised form, the spelling typed is kept
for display and sending, and a second account for another case spelling cannot be made.
Existing case-duplicates are not merged: the migration keeps both and
``secinfo accounts duplicates`` lists them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from secinfo.adapters.migrations import migrate
from secinfo.adapters.sql.contacts_at_rest import duplicate_index, key_index, unseal
from secinfo.adapters.sql.repositories import VALUE
from secinfo.adapters.sql.tables import accounts, security_info
from secinfo.bootstrap import build
from tests.conftest import TEST_SECRET, Harness, auth, make_settings, running_app
from tests.support import PostgresDatabase, unavailable

pytestmark = pytest.mark.anyio

NAME = "case-user@example.com"
SPELLINGS = ["Case-User@example.com", "CASE-USER@EXAMPLE.COM", "cAsE-uSeR@Example.Com"]
PASSWORD = "a long passphrase 1"


async def count(harness: Harness, table: sa.Table) -> int:
    async with harness.app.engine.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_another_case_spelling_cannot_sign_up_a_second_account(harness: Harness) -> None:
    await harness.sign_up(NAME, PASSWORD)
    before = await count(harness, accounts)
    for spelling in SPELLINGS:
        started = await harness.client.post(
            "/v1/accounts", json={"sign_in_name": spelling, "password": "another passphrase 2"}
        )
        assert started.status_code == 202, started.text  # the same answer as for a new name
    assert await count(harness, accounts) == before
    notices = [m["subject"] for m in await harness.mailbox(NAME)]
    assert notices.count("Someone tried to create a secinfo account with your address") == 3


async def test_sign_in_and_recovery_work_with_any_case(harness: Harness) -> None:
    await harness.sign_up(NAME, PASSWORD)
    for spelling in SPELLINGS:
        signed_in = await harness.client.post(
            "/v1/sessions", json={"sign_in_name": spelling, "password": PASSWORD}
        )
        assert signed_in.status_code == 201, (spelling, signed_in.text)
    recovery = (
        await harness.client.post("/v1/recovery", json={"sign_in_name": SPELLINGS[1]})
    ).json()
    contact = recovery["contacts"][0]
    sent = await harness.client.post(
        f"/v1/recovery/{recovery['recovery_id']}/send",
        json={"contact_id": contact["contact_id"], "contact": SPELLINGS[2]},
    )
    verified = await harness.client.post(
        f"/v1/recovery/{recovery['recovery_id']}/verify",
        json={
            "verification_id": sent.json()["verification_id"],
            "code": await harness.latest_code(NAME),
        },
    )
    assert verified.status_code == 200, verified.text


async def test_the_spelling_typed_is_kept_for_display_and_sending(harness: Harness) -> None:
    token = await harness.sign_up("Mixed.Case@Example.COM", PASSWORD)
    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()
    assert items["items"][0]["value"] == "Mi*****@example.com"
    async with harness.app.engine.connect() as connection:
        row = (await connection.execute(sa.select(security_info))).one()
    # Sealed at rest, keyed on the folded form (contacts_at_rest).
    assert "mixed" not in row.value.lower()
    assert unseal(harness.app.box, VALUE, row.id, row.value) == "Mixed.Case@example.com"
    assert row.value_key == key_index(harness.app.box, "mixed.case@example.com")
    sent = await harness.mailbox("Mixed.Case@example.com")
    assert sent and sent[0]["to"] == "Mixed.Case@example.com"  # sent to the typed spelling


async def test_adding_another_spelling_of_your_own_email_is_already_registered(
    harness: Harness,
) -> None:
    token = await harness.sign_up(NAME, PASSWORD)
    await harness.step_up(token, NAME)
    added = await harness.client.post(
        "/v1/me/security-info", json={"kind": "email", "value": SPELLINGS[0]}, headers=auth(token)
    )
    assert added.status_code == 409, added.text


@pytest.mark.parametrize(
    "local",
    [
        "vi\u0441tim",  # Cyrillic es among Latin letters
        "p\u0430ypal",  # Cyrillic a
        "\u03bfmega-o",  # Greek omicron
        "\uff56\uff49\uff43\uff54\uff49\uff4d",  # full-width "victim"
        "o\ufb03ce",  # the "ffi" ligature
    ],
)
async def test_look_alike_local_parts_are_refused(harness: Harness, local: str) -> None:
    answer = await harness.client.post(
        "/v1/accounts", json={"sign_in_name": f"{local}@example.com", "password": PASSWORD}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_email"
    assert await count(harness, accounts) == 0


async def test_limits_count_one_mailbox_whatever_its_spelling(
    database_url: str, tmp_path: Path
) -> None:
    async with running_app(database_url, tmp_path, rate_limits={}) as harness:
        key = await harness.api_key()
        answers = []
        for spelling in [
            "victim@example.com",
            "Victim@example.com",
            "VICTIM@example.com",
            "vIctim@example.com",
        ]:
            answer = await harness.client.post(
                "/v1/verifications", json={"to": spelling, "channel": "email"}, headers=auth(key)
            )
            answers.append(answer)
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert answers[-1].json()["error"]["limit"] == "code.send.destination"

        await harness.sign_up(NAME, PASSWORD)
        statuses = []
        for attempt in range(6):
            spelling = [*SPELLINGS, NAME][attempt % 4]
            answer = await harness.client.post(
                "/v1/sessions", json={"sign_in_name": spelling, "password": "wrong password 9"}
            )
            statuses.append(answer.status_code)
        assert statuses[:5] == [401] * 5
        assert statuses[5] == 429


# -- existing case-duplicates: the migration and the operator's report -------------------


async def _duplicates_before_keys(url: str, tmp_path: Path) -> None:
    """A database at 0004 holding two accounts whose names differ only in case."""
    app = build(make_settings(url, tmp_path))
    try:
        await migrate(app.engine, "0004_blocked_prefixes")
        now = app.deps.clock.now()
        password_hash = await app.deps.passwords.hash(PASSWORD)
        async with app.engine.begin() as connection:
            for number, spelling in enumerate([NAME, "Case-User@example.com"]):
                await connection.execute(
                    accounts.insert().values(
                        id=f"acc_old{number}",
                        password_hash=password_hash,
                        status="active",
                        locale="en",
                        created_at=now,
                        last_sign_in_at=now,
                    )
                )
                await connection.execute(
                    sa.text(
                        "INSERT INTO security_info (id, account_id, kind, value, state, "
                        "sign_in, added_at, verified_at, last_used_at) VALUES (:id, :account, "
                        "'email', :value, 'active', :yes, :now, :now, :now)"
                    ),
                    {
                        "id": f"inf_old{number}",
                        "account": f"acc_old{number}",
                        "value": spelling,
                        "yes": True,
                        "now": now.replace(microsecond=number),
                    },
                )
        await migrate(app.engine, box=app.box)
    finally:
        await app.close()


def _report(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secinfo", "accounts", "duplicates"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "SECINFO_DATABASE_URL": url,
            "SECINFO_DATA_DIR": str(tmp_path),
            "SECINFO_SECRET_KEY": TEST_SECRET,
            "COLUMNS": "200",
        },
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_migration_keeps_case_duplicates_and_the_operator_is_told(
    backend: str, tmp_path: Path
) -> None:
    database: PostgresDatabase | None = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/old.db"
    else:
        database = PostgresDatabase()
        try:
            await asyncio.to_thread(database.create)
        except Exception as error:
            unavailable("PostgreSQL", error)
        url = database.url
    try:
        await _duplicates_before_keys(url, tmp_path)
        async with running_app(url, tmp_path, fresh=False) as harness:
            async with harness.app.engine.connect() as connection:
                keys = dict(
                    (
                        await connection.execute(
                            sa.select(security_info.c.id, security_info.c.value_key)
                        )
                    ).all()
                )
            box = harness.app.box
            assert keys == {
                "inf_old0": key_index(box, NAME),
                "inf_old1": duplicate_index(box, "Case-User@example.com"),
            }
            # Nothing merged: each signs in with its own spelling; others reach the oldest.
            for spelling, account in [
                (NAME, "acc_old0"),
                ("Case-User@example.com", "acc_old1"),
                ("CASE-USER@example.com", "acc_old0"),
            ]:
                answer = await harness.client.post(
                    "/v1/sessions", json={"sign_in_name": spelling, "password": PASSWORD}
                )
                assert answer.status_code in (201, 202), answer.text
                assert answer.json().get("account_id", account) == account, spelling
            # And no third account for yet another spelling.
            await harness.client.post(
                "/v1/accounts", json={"sign_in_name": "CASE-user@example.com", "password": PASSWORD}
            )
            assert await count(harness, accounts) == 2
        report = _report(url, tmp_path)
        assert report.returncode == 1, report.stdout + report.stderr
        assert "acc_old0" in report.stdout and "acc_old1" in report.stdout
        assert "1 mailbox(es) held by more than one account" in report.stdout
        assert NAME not in report.stdout  # masked
    finally:
        if database is not None:
            await asyncio.to_thread(database.drop)


def test_the_report_is_clean_without_duplicates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/clean.db"
    env = {
        **os.environ,
        "SECINFO_DATABASE_URL": url,
        "SECINFO_DATA_DIR": str(tmp_path),
        "SECINFO_SECRET_KEY": TEST_SECRET,
    }
    subprocess.run(
        [sys.executable, "-m", "secinfo", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    report = _report(url, tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "No email is held by more than one account." in report.stdout
