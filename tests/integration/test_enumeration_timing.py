"""No enumeration by timing: a wrong password for a real name and any password for an
unknown one, a recovery started for a real name and for an unknown one, answer in times
that 220 back-to-back pairs cannot tell apart (|z| < 2), on SQLite and PostgreSQL.

A z test at 2 raises a false alarm 1 time in 20 even when there is no gap; a run whose
first sample reaches 2 is measured once more and must pass then (1 false alarm in 400),
while a real gap (the 2 ms of a failure record written only for real names was z = 4)
fails both.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from secinfo.domain.limits import DEFAULT_LIMITS
from tests.conftest import Harness, auth, running_app
from tests.support import paired_z

pytestmark = pytest.mark.anyio

PAIRS = 220


@pytest.fixture
async def harness(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """Limits out of the way: hundreds of requests come from one client for one name."""
    limits = {name: "1000000/minute" for name in DEFAULT_LIMITS}
    async with running_app(database_url, tmp_path, rate_limits=limits) as running:
        yield running


async def timing_z(
    real: Callable[[int], Awaitable[object]], unknown: Callable[[int], Awaitable[object]]
) -> tuple[float, float]:
    async def one_run() -> tuple[float, float]:
        timings: dict[str, list[float]] = {"real": [], "unknown": []}
        for n in range(PAIRS):
            # Which one goes first alternates, so an order effect cancels too.
            order = (("real", real), ("unknown", unknown))
            for which, request in order if n % 2 else order[::-1]:
                began = time.perf_counter()
                await request(n)
                timings[which].append(time.perf_counter() - began)
        return paired_z(timings["real"], timings["unknown"])

    for _ in range(3):  # warm up: connections, caches, the timing twin's samples
        await real(-1)
        await unknown(-1)
    z, mean = await one_run()
    if abs(z) >= 2:
        print(f"first sample z = {z:.2f}, measuring again")
        z, mean = await one_run()
    print(f"paired timing over {PAIRS} pairs: z = {z:.2f}, real names {mean * 1000:+.3f} ms")
    return z, mean


async def test_a_wrong_password_takes_as_long_for_a_real_name_as_for_an_unknown_one(
    harness: Harness,
) -> None:
    await harness.sign_up("erik@example.com")

    async def sign_in(name: str) -> None:
        response = await harness.client.post(
            "/v1/sessions", json={"sign_in_name": name, "password": "not the password 1"}
        )
        assert response.status_code == 401

    z, mean = await timing_z(
        lambda n: sign_in("erik@example.com"), lambda n: sign_in(f"ghost{n}@example.com")
    )
    assert abs(z) < 2, f"z = {z:.2f}, real names {mean * 1000:+.3f} ms on average"


async def test_a_recovery_takes_as_long_to_start_for_a_real_name_as_for_an_unknown_one(
    harness: Harness,
) -> None:
    token = await harness.sign_up("petra@example.org")
    await harness.step_up(token, "petra@example.org")
    added = await harness.client.post(
        "/v1/me/security-info",
        json={"kind": "phone", "value": "+14155550189"},
        headers=auth(token),
    )
    assert added.status_code == 201, added.text
    item = added.json()
    confirmed = await harness.client.post(
        f"/v1/me/security-info/{item['item']['id']}/verify",
        json={
            "verification_id": item["verification"]["id"],
            "code": await harness.latest_code("+14155550189"),
        },
        headers=auth(token),
    )
    assert confirmed.status_code == 200, confirmed.text
    for n in range(3):  # a few email-only accounts: decoys take either shape
        await harness.sign_up(f"other{n}@example.org")

    async def start(name: str) -> list[str]:
        response = await harness.client.post("/v1/recovery", json={"sign_in_name": name})
        assert response.status_code == 202
        return [contact["channel"] for contact in response.json()["contacts"]]

    # An attacker compares answers of one shape: unknown names whose decoys look like
    # Petra's (an email, then a phone) against Petra.
    shape = await start("petra@example.org")
    assert shape == ["email", "sms"]
    look_alikes = [
        name
        for name in (f"ghost{n}@example.org" for n in range(1000))
        if await start(name) == shape
    ][:PAIRS]
    assert len(look_alikes) == PAIRS

    z, mean = await timing_z(lambda n: start("petra@example.org"), lambda n: start(look_alikes[n]))
    assert abs(z) < 2, f"z = {z:.2f}, real names {mean * 1000:+.3f} ms on average"
