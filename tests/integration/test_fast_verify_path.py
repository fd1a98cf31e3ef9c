"""The Verify API's fast path (``api/fast_verify.py``) answers exactly as the framework
does: the same scenario, request for request, on an app with the fast path and on one
without it, gives the same statuses, headers and bytes (verification ids aside, which
are random), and the fast path really answered the requests it should."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from secinfo.api.fast_verify import FastVerifyPath, check_code, start_fields
from secinfo.domain.model import ApiKeyScope
from secinfo.services import api_keys
from tests.conftest import Harness, auth, running_app

pytestmark = pytest.mark.anyio

START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
EMAIL = "Fast.Path@Example.com"
PHONE = "+14155550142"

Answer = tuple[int, list[tuple[str, str]], bytes]


async def scenario(harness: Harness) -> list[Answer]:
    """Every kind of answer the two calls give, and requests the fast path leaves alone."""
    key = await harness.api_key()
    admin = (await api_keys.create(harness.app.deps, "ops", ApiKeyScope.ADMIN)).key
    client = harness.client
    answers: list[httpx.Response] = []

    async def post(path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        response = (
            await client.post(path, json=body, **kwargs)
            if body is not None
            else (await client.post(path, **kwargs))
        )
        answers.append(response)
        return response

    email = {"to": EMAIL, "channel": "email"}
    await post("/v1/verifications", email)  # no key
    await post("/v1/verifications", email, headers=auth("sik_not_a_key"))
    await post("/v1/verifications", email, headers={"Authorization": "Basic abc"})
    await post("/v1/verifications", email, headers=auth(admin))  # wrong scope
    started = await post("/v1/verifications", email, headers=auth(key))
    await post("/v1/verifications", email, headers=auth(key))  # resend cooldown
    sms = {"to": PHONE, "channel": "sms", "locale": "de-CH", "client_ip": "2001:DB8:0::1"}
    texted = await post("/v1/verifications", sms, headers=auth(key))
    v4 = {"to": "other@example.com", "channel": "email", "client_ip": "192.0.2.9"}
    await post("/v1/verifications", v4, headers=auth(key))
    harness.clock.advance(seconds=61)
    await post("/v1/verifications", email, headers=auth(key))  # a resend on the same id

    verification_id = started.json()["id"]
    check = f"/v1/verifications/{verification_id}/check"
    await post(check, {"code": "000000"}, headers=auth(key))  # wrong
    await post(check, {"code": "000000"})  # no key
    await post(check, {"code": await harness.latest_code(EMAIL)}, headers=auth(key))
    await post(check, {"code": "000000"}, headers=auth(key))  # already approved
    await post("/v1/verifications/ver_unknown/check", {"code": "1"}, headers=auth(key))
    texted_check = f"/v1/verifications/{texted.json()['id']}/check"
    for _ in range(6):  # to the last attempt and past it
        await post(texted_check, {"code": "999999"}, headers=auth(key))

    # Left to the framework: each is refused or read its own way there.
    headers = auth(key)
    await post("/v1/verifications", {**email, "extra": 1}, headers=headers)
    await post("/v1/verifications", {"to": "a" * 321, "channel": "email"}, headers=headers)
    await post("/v1/verifications", {**email, "locale": "de\n"}, headers=headers)
    await post("/v1/verifications", {**email, "client_ip": "999.1.1.1"}, headers=headers)
    await post(
        "/v1/verifications", {"to": "x\u202e@example.com", "channel": "email"}, headers=headers
    )
    await post("/v1/verifications", {"to": 5, "channel": "email"}, headers=headers)
    await post("/v1/verifications", {"to": EMAIL, "channel": "fax"}, headers=headers)
    await post("/v1/verifications", [email], headers=headers)
    raw = b'{"to": "a@example.com", "to": "b@example.com", "channel": "email"}'
    await post(
        "/v1/verifications", content=raw, headers={**headers, "content-type": "application/json"}
    )
    await post(
        "/v1/verifications",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    await post(
        "/v1/verifications",
        content=b'{"to":"a@example.com","channel":"email"}',
        headers={**headers, "content-type": "text/plain"},
    )
    await post("/v1/verifications?x=1", email, headers=headers)
    await post(check, {"code": "1" * 33}, headers=headers)
    await post(check, {"code": "1", "more": True}, headers=headers)
    await post(check, {"code": None}, headers=headers)
    return [
        (
            response.status_code,
            [(name, value) for name, value in response.headers.items() if name != "date"],
            response.content,
        )
        for response in answers
    ]


ID = re.compile(rb"ver_[A-Za-z0-9_-]+")


def without_ids(answers: list[Answer]) -> list[Answer]:
    """Verification ids are random: number them in order of appearance."""
    seen: dict[bytes, bytes] = {}

    def number(match: re.Match[bytes]) -> bytes:
        return seen.setdefault(match[0], b"ver_%d" % len(seen))

    renumbered = []
    for status, headers, body in answers:
        plain = ID.sub(number, body)
        fixed = [
            (name, str(len(plain)) if name == "content-length" else value)
            for name, value in headers
        ]
        renumbered.append((status, fixed, plain))
    return renumbered


async def run(database_url: str, folder: Path, name: str, *, fast_paths: bool) -> list[Answer]:
    from tests.support import MovableClock

    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{folder}/{name}.db"
    async with running_app(
        database_url, folder, clock=MovableClock(START), fast_paths=fast_paths
    ) as harness:
        return await scenario(harness)


async def test_the_fast_path_answers_byte_for_byte_as_the_framework(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[str | None] = []
    original: Callable[..., Awaitable[Any]] = FastVerifyPath._answer

    async def counting(self: FastVerifyPath, *args: Any) -> Any:
        answered.append(args[-1])
        return await original(self, *args)

    monkeypatch.setattr(FastVerifyPath, "_answer", counting)
    fast = await run(database_url, tmp_path, "fast", fast_paths=True)
    taken = len(answered)
    framework = await run(database_url, tmp_path, "framework", fast_paths=False)
    assert len(answered) == taken  # the second app never took the fast path
    # 9 starts and 11 checks are the fast path's; the 15 odd requests are not.
    assert taken == 20, answered
    assert len(fast) == len(framework) == 35
    for index, (one, other) in enumerate(
        zip(without_ids(fast), without_ids(framework), strict=True)
    ):
        assert one == other, f"request {index}: {one!r} != {other!r}"
    statuses = [status for status, _, _ in fast]
    assert {201, 200, 401, 403, 404, 409, 422, 429, 400} <= set(statuses), statuses


async def test_an_unexpected_error_is_the_same_500_on_both_paths_and_reaches_the_server(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from secinfo.services import verify_api

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the database said something odd about to@example.com")

    monkeypatch.setattr(verify_api, "start", broken)
    answers = []
    for fast_paths in (True, False):
        async with running_app(database_url, tmp_path, fast_paths=fast_paths) as harness:
            key = await harness.api_key()
            body = {"to": "to@example.com", "channel": "email"}
            # The server (uvicorn) sees the exception too, and logs it.
            with pytest.raises(RuntimeError):
                await harness.client.post("/v1/verifications", json=body, headers=auth(key))
            transport = httpx.ASGITransport(app=harness.api, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.post("/v1/verifications", json=body, headers=auth(key))
            answers.append((response.status_code, dict(response.headers), response.content))
    fast, framework = answers
    assert fast == framework
    assert fast[0] == 500
    assert b"internal_error" in fast[2] and b"to@example.com" not in fast[2]


def test_the_fast_path_reads_only_what_the_request_models_accept() -> None:
    assert start_fields(b'{"to": "a@example.com", "channel": "sms"}') == (
        "a@example.com",
        "sms",
        "en",
        None,
    )
    assert start_fields(b'{"to":"a","channel":"email","client_ip":"::ffff:192.0.2.1"}') == (
        "a",
        "email",
        "en",
        "::ffff:c000:201",
    )
    for body in (
        b'{"to": "a", "channel": "email", "locale": "e"}',
        b'{"to": "a", "channel": "email", "locale": "en-"}',
        b'{"to": "a", "channel": "email", "locale": "abcdefghi"}',
        b'{"to": "a", "channel": "email", "client_ip": 3232235521}',
        b'{"to": "a\\u0000", "channel": "email"}',
        b'{"channel": "email"}',
        b'{"to": "a", "channel": "EMAIL"}',
        b'\xef\xbb\xbf{"to": "a", "channel": "email"}',
        b'{"to": "a", "channel": "email"} x',
        b"null",
    ):
        assert start_fields(body) is None, body
    assert check_code(b'{"code": "123456"}') == "123456"
    for body in (b'{"code": 123456}', b'{"code": "1", "code": "2"}', b"{}", b'{"code": "\\n1"}'):
        assert check_code(body) is None, body
