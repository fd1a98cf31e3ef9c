"""Password hashing over HTTP: old hashes are upgraded at sign-in, and a full hashing
pool refuses at once with 503 "overloaded" while everything else keeps answering."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn

from secinfo.adapters.passwords import Argon2Passwords
from secinfo.adapters.sql.tables import accounts
from secinfo.api.app import RefuseSignInsWhenOverloaded
from secinfo.api.slow_clients import protocol_with
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


@contextmanager
def pool_taken(passwords: object) -> Iterator[None]:
    """The hashing pool's one worker busy with a hash that waits for the test."""
    assert isinstance(passwords, Argon2Passwords)
    started, release = threading.Event(), threading.Event()

    def occupy() -> None:
        started.set()
        release.wait(10)

    future = passwords.pool._executor.submit(occupy)
    passwords.pool._running += 1  # as ``run`` counts a hash it started
    try:
        assert started.wait(5)
        yield
    finally:
        release.set()
        future.result(5)
        passwords.pool._running -= 1


@asynccontextmanager
async def serving(harness: Harness) -> AsyncIterator[int]:
    """The app behind a real uvicorn, with ``serve``'s HTTP protocol, on a free port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        harness.api, lifespan="off", http=protocol_with(10.0), log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[listener]))
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes, float]:
    """One HTTP response read by its declared length: (head, body, when it was whole)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    body = await reader.readexactly(length)
    return head, body, time.monotonic()


async def test_a_refused_connection_takes_its_next_request_only_after_a_pause(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold = 0.5  # longer than the default, so the timings below have room on a busy box
    monkeypatch.setattr(RefuseSignInsWhenOverloaded, "HOLD_SECONDS", hold)
    async with running_app(
        database_url, tmp_path, password_hash_workers=1, password_hash_queue=0
    ) as harness:
        await harness.sign_up(EMAIL, PASSWORD)
        body = b'{"sign_in_name": "hana@example.com", "password": "a long passphrase 1"}'
        request = (
            b"POST /v1/sessions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        async with serving(harness) as port:
            with pool_taken(harness.app.deps.passwords):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                sent = time.monotonic()
                writer.write(request)
                head, refused, whole = await answer(reader)
                writer.write(request)  # at once, ignoring Retry-After
                # Meanwhile another connection is answered without waiting for the hold.
                other_reader, other_writer = await asyncio.open_connection("127.0.0.1", port)
                other_sent = time.monotonic()
                other_writer.write(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
                health_head, _, health_whole = await answer(other_reader)
                second_head, second, second_whole = await answer(reader)
            writer.close()
            other_writer.close()
        assert head.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in head.lower()
        assert b'"code":"overloaded"' in refused.replace(b" ", b"")
        assert PASSWORD.encode() not in refused
        assert whole - sent < hold  # the refusal is whole before its hold ends
        assert health_head.startswith(b"HTTP/1.1 200")
        assert health_whole - other_sent < hold  # other connections are not held
        assert health_whole < second_whole
        assert second_head.startswith(b"HTTP/1.1 503") and second == refused
        # The second answer came only after the first response's hold had passed.
        assert second_whole - whole >= hold * 0.9
