"""Password hashing over HTTP: old hashes are upgraded at sign-in, and a full hashing
pool refuses at once with 503 "overloaded" while everything else keeps answering."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from secinfo.adapters.passwords import Argon2Passwords
from secinfo.adapters.sql.tables import accounts
from tests.conftest import Harness, running_app

pytestmark = pytest.mark.anyio

EMAIL = "hana@example.com"
PASSWORD = "a long passphrase 1"
CREDENTIALS = {"sign_in_name": EMAIL, "password": PASSWORD}


async def stored_hash(harness: Harness) -> str:
    async with harness.app.engine.connect() as connection:
        value = (await connection.execute(sa.select(accounts.c.password_hash))).scalar_one()
    return str(value)


async def test_an_old_hash_is_rehashed_at_the_next_right_sign_in(
    harness: Harness, database_url: str, tmp_path: Path
) -> None:
    await harness.sign_up(EMAIL, PASSWORD)  # hashed with the tests' t=1, 1 MiB
    assert "m=1024,t=1,p=1" in await stored_hash(harness)

    # The operator raises the cost; the same database, a new process.
    async with running_app(
        database_url, tmp_path, fresh=False, argon2_time_cost=2, argon2_memory_kib=2048
    ) as upgraded:
        wrong = await upgraded.client.post(
            "/v1/sessions", json={**CREDENTIALS, "password": "not the password 1"}
        )
        assert wrong.status_code == 401
        assert "m=1024,t=1,p=1" in await stored_hash(upgraded)

        signed_in = await upgraded.client.post("/v1/sessions", json=CREDENTIALS)
        assert signed_in.status_code == 201, signed_in.text
        rehashed = await stored_hash(upgraded)
        assert "m=2048,t=2,p=1" in rehashed

        again = await upgraded.client.post("/v1/sessions", json=CREDENTIALS)
        assert again.status_code == 201
        assert await stored_hash(upgraded) == rehashed  # current now: left as it is

    # The old settings still verify the new hash (argon2 reads the parameters from it).
    back = await harness.client.post("/v1/sessions", json=CREDENTIALS)
    assert back.status_code == 201, back.text


async def test_a_full_hashing_pool_answers_503_overloaded_at_once(
    database_url: str, tmp_path: Path
) -> None:
    async with running_app(
        database_url, tmp_path, password_hash_workers=1, password_hash_queue=0
    ) as harness:
        await harness.sign_up(EMAIL, PASSWORD)
        passwords = harness.app.deps.passwords
        assert isinstance(passwords, Argon2Passwords)
        # Saturate the pool: its one worker is taken by a hash that waits for the test.
        started, release = threading.Event(), threading.Event()

        def occupy() -> None:
            started.set()
            release.wait(10)

        occupying = asyncio.ensure_future(passwords.pool.run(occupy))
        assert await asyncio.to_thread(started.wait, 5)
        try:
            began = time.monotonic()
            refused = await harness.client.post("/v1/sessions", json=CREDENTIALS)
            answered_in = time.monotonic() - began
            signup = await harness.client.post(
                "/v1/accounts", json={"sign_in_name": "ivo@example.com", "password": PASSWORD}
            )
            health = await harness.client.get("/healthz")
        finally:
            release.set()
            await occupying

        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        error = refused.json()["error"]
        assert error["code"] == "overloaded"
        assert error["retry_after"] == 1
        assert "nothing was changed" in error["message"]
        assert PASSWORD not in refused.text
        assert answered_in < 0.5  # refused without waiting for the busy worker
        assert signup.status_code == 503 and signup.json()["error"]["code"] == "overloaded"
        assert health.status_code == 200

        # Once the worker is free, the same sign-in goes through.
        after = await harness.client.post("/v1/sessions", json=CREDENTIALS)
        assert after.status_code == 201, after.text
