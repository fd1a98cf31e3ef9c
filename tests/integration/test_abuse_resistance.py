"""Issue 6 over HTTP: named limits on the memory and Redis backends, the SMS-pumping guard,
the brute-force bound and enumeration resistance."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from limits import parse_many

from secinfo.domain.limits import DEFAULT_LIMITS
from secinfo.services import fraud
from tests.conftest import Harness, auth, running_app
from tests.support import REDIS_URL, generous_limits, unavailable

pytestmark = pytest.mark.anyio


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the local Redis, deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        unavailable("Redis", error)
    prefix = f"secinfo-test-{secrets.token_hex(6)}"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {}
    prefix = request.getfixturevalue("redis_prefix")
    return {"redis_url": REDIS_URL, "redis_key_prefix": prefix}


def limits_with(**changes: str) -> dict[str, str]:
    """Generous limits except the ones under test, named with dots as in the table."""
    table = generous_limits()
    table.update({name.replace("__", "."): rates for name, rates in changes.items()})
    return table


async def start(client: httpx.AsyncClient, key: str, to: str, **extra: Any) -> httpx.Response:
    channel = "email" if "@" in to else "sms"
    return await client.post(
        "/v1/verifications", json={"to": to, "channel": channel, **extra}, headers=auth(key)
    )


async def start_and_cancel(
    client: httpx.AsyncClient, key: str, to: str, **extra: Any
) -> httpx.Response:
    response = await start(client, key, to, **extra)
    if response.status_code == 201:
        await client.post(f"/v1/verifications/{response.json()['id']}/cancel", headers=auth(key))
    return response


def assert_refused_by(response: httpx.Response, limit: str) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["limit"] == limit
    assert int(response.headers["Retry-After"]) >= 1
    # The message says when, in words a person reads ("try again in 54 minutes").
    assert re.search(r"(try again in|wait) \d+ (second|minute|hour|day)s?", error["message"]), (
        error["message"]
    )


@pytest.fixture
async def limited(
    database_url: str, tmp_path: Path, backend: dict[str, Any]
) -> AsyncIterator[Harness]:
    overrides = limits_with(
        code__send__destination="2/hour",
        code__send__ip="3/hour",
        code__send__account="3/hour",
        code__check__account="4/hour",
        sign_in__name="3/minute",
        sign_in__ip="5/minute",
        sign_up__ip="2/hour",
        recovery__ip="4/hour",
        recovery__name="2/hour",
    )
    async with running_app(database_url, tmp_path, rate_limits=overrides, **backend) as running:
        yield running


async def test_sends_per_destination_and_per_client_network(limited: Harness) -> None:
    key = await limited.api_key()
    client = limited.client
    assert (await start_and_cancel(client, key, "+14155550101")).status_code == 201
    assert (await start_and_cancel(client, key, "+14155550101")).status_code == 201
    assert_refused_by(await start_and_cancel(client, key, "+14155550101"), "code.send.destination")
    # Another destination still works.
    assert (await start_and_cancel(client, key, "+14155550102")).status_code == 201

    # Per client: the end user's address passed by the integrator, IPv6 grouped by /64.
    for n in range(3):
        response = await start_and_cancel(
            client, key, f"user{n}@example.com", client_ip=f"2001:db8:1:2::{n + 1}"
        )
        assert response.status_code == 201
    assert_refused_by(
        await start_and_cancel(client, key, "user9@example.com", client_ip="2001:db8:1:2:ffff::1"),
        "code.send.ip",
    )
    # Another /64, and calls without a client_ip, are not held back by that prefix.
    assert (
        await start_and_cancel(client, key, "user10@example.com", client_ip="2001:db8:1:3::1")
    ).status_code == 201
    assert (await start_and_cancel(client, key, "user11@example.com")).status_code == 201


async def test_checks_per_subject_and_sign_in_attempts(limited: Harness) -> None:
    key = await limited.api_key()
    started = await start(limited.client, key, "carl@example.com")
    url = f"/v1/verifications/{started.json()['id']}/check"
    for _ in range(4):
        response = await limited.client.post(url, json={"code": "000000"}, headers=auth(key))
        assert response.status_code == 200
    assert_refused_by(
        await limited.client.post(url, json={"code": "000000"}, headers=auth(key)),
        "code.check.account",
    )

    credentials = {"sign_in_name": "nobody@example.com", "password": "wrong password 1"}
    for _ in range(3):
        assert (await limited.client.post("/v1/sessions", json=credentials)).status_code == 401
    assert_refused_by(await limited.client.post("/v1/sessions", json=credentials), "sign_in.name")


async def test_sign_up_and_recovery_starts(limited: Harness) -> None:
    body = {"password": "a long passphrase 1"}
    for n in range(2):
        response = await limited.client.post(
            "/v1/accounts", json={"sign_in_name": f"new{n}@example.com", **body}
        )
        assert response.status_code == 202
    assert_refused_by(
        await limited.client.post(
            "/v1/accounts", json={"sign_in_name": "new9@example.com", **body}
        ),
        "sign_up.ip",
    )
    for _ in range(2):
        response = await limited.client.post("/v1/recovery", json={"sign_in_name": "x@example.com"})
        assert response.status_code == 202
    assert_refused_by(
        await limited.client.post("/v1/recovery", json={"sign_in_name": "x@example.com"}),
        "recovery.name",
    )
    assert (
        await limited.client.post("/v1/recovery", json={"sign_in_name": "y@example.com"})
    ).status_code == 202
    assert_refused_by(
        await limited.client.post("/v1/recovery", json={"sign_in_name": "z@example.com"}),
        "recovery.ip",
    )


async def test_several_api_processes_share_one_redis(
    database_url: str, tmp_path: Path, redis_prefix: str
) -> None:
    settings: dict[str, Any] = {
        "rate_limits": limits_with(code__send__destination="3/hour"),
        "redis_url": REDIS_URL,
        "redis_key_prefix": redis_prefix,
    }
    async with running_app(database_url, tmp_path / "one", **settings) as first:
        key = await first.api_key()
        async with running_app(database_url, tmp_path / "two", fresh=False, **settings) as second:
            assert (await start_and_cancel(first.client, key, "+14155550111")).status_code == 201
            assert (await start_and_cancel(second.client, key, "+14155550111")).status_code == 201
            assert (await start_and_cancel(first.client, key, "+14155550111")).status_code == 201
            assert_refused_by(
                await start_and_cancel(second.client, key, "+14155550111"), "code.send.destination"
            )


async def test_when_redis_is_unreachable_sends_are_refused_and_checks_allowed(
    database_url: str, tmp_path: Path
) -> None:
    async with running_app(database_url, tmp_path, redis_url="redis://127.0.0.1:1/0") as down:
        key = await down.api_key()
        refused = await start(down.client, key, "dora@example.com")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "rate_limiter_unavailable"
        # Sign-in still answers: the outage must not lock people out.
        credentials = {"sign_in_name": "dora@example.com", "password": "a long passphrase 1"}
        assert (await down.client.post("/v1/sessions", json=credentials)).status_code == 401
    async with running_app(
        database_url,
        tmp_path,
        fresh=False,
        redis_url="redis://127.0.0.1:1/0",
        rate_limit_outage="allow_all",
    ) as lenient:
        key = await lenient.api_key()
        assert (await start(lenient.client, key, "dora@example.com")).status_code == 201


async def test_while_redis_is_unreachable_sign_ins_are_still_limited_in_process(
    database_url: str, tmp_path: Path
) -> None:
    """Under refuse_sends an outage must not switch the sign-in limits off: an in-process
    limiter counts per name and per network until Redis answers again (the defaults)."""
    sign_in_name, sign_in_ip = (
        parse_many(DEFAULT_LIMITS[name].rates)[0].amount for name in ("sign_in.name", "sign_in.ip")
    )
    async with running_app(
        database_url, tmp_path, redis_url="redis://127.0.0.1:1/0", rate_limits={}
    ) as down:
        credentials = {"sign_in_name": "erin@example.com", "password": "a wrong password 1"}
        answers = [
            (await down.client.post("/v1/sessions", json=credentials)).status_code
            for _ in range(12)
        ]
        assert answers == [401] * sign_in_name + [429] * (12 - sign_in_name), answers
        assert_refused_by(await down.client.post("/v1/sessions", json=credentials), "sign_in.name")
        # Per network: other names from the same address meet the network's limit.
        answers = [
            (
                await down.client.post(
                    "/v1/sessions",
                    json={"sign_in_name": f"guess{n}@example.com", "password": "whatever 123"},
                )
            ).status_code
            for n in range(sign_in_ip)
        ]
        # The 13 calls for erin counted too; the network's budget is spent before the end.
        assert answers.count(429) >= 13 and answers[-1] == 429, answers
        assert_refused_by(
            await down.client.post(
                "/v1/sessions", json={"sign_in_name": "last@example.com", "password": "x y z 1"}
            ),
            "sign_in.ip",
        )


async def test_a_pumping_attack_on_one_prefix_is_blocked_while_other_traffic_flows(
    database_url: str, tmp_path: Path, backend: dict[str, Any]
) -> None:
    async with running_app(
        database_url,
        tmp_path,
        pumping_min_sends=20,
        pumping_min_conversion=0.2,
        rate_limits=limits_with(code__send__country="100000/hour"),
        **backend,
    ) as running:
        key = await running.api_key()
        accepted = refused = 0
        for n in range(200):  # adjacent Nigerian mobile numbers, never completed
            response = await start(running.client, key, f"+234803123{n:04d}")
            if response.status_code == 201:
                accepted += 1
            else:
                assert response.status_code == 422, response.text
                assert response.json()["error"]["code"] == "destination_not_allowed"
                refused += 1
        assert accepted <= 20
        assert refused == 200 - accepted
        # Other countries, and other prefixes of the same country, keep flowing.
        assert (await start(running.client, key, "+447400123456")).status_code == 201
        assert (await start(running.client, key, "+14155550123")).status_code == 201
        assert (await start(running.client, key, "+2348051234567")).status_code == 201

        blocks = await fraud.blocked(running.app.deps)
        assert [(block.prefix, block.country) for block in blocks] == [("+2348031", "NG")]
        assert blocks[0].sends >= 20 and blocks[0].conversions == 0
        await fraud.unblock(running.app.deps, "+2348031")
        assert (await start(running.client, key, "+2348031239999")).status_code == 201


async def test_numbers_that_pumping_uses_are_refused(harness: Harness) -> None:
    key = await harness.api_key()
    premium = await start(harness.client, key, "+19005550123")  # US premium rate
    assert premium.status_code == 422
    assert premium.json()["error"]["code"] == "destination_not_allowed"
    assert "premium" in premium.json()["error"]["message"]


async def test_a_six_digit_code_cannot_be_guessed_with_every_limit_in_place(
    database_url: str, tmp_path: Path
) -> None:
    """The bound, from the limits table: per destination at most ``S`` sends a day; each
    verification allows 5 checks and each check matches at most as many codes as that
    verification has sent. So the expected successes a day are at most 5·S / 10^6."""
    per_day = min(
        item.amount * 86400 // item.get_expiry()
        for item in parse_many(DEFAULT_LIMITS["code.send.destination"].rates)
    )
    bound = 5 * per_day / 10**6
    assert per_day == 10
    # 10 sends x 5 checks = 50 guesses in 10^6: 5 in 10^5, 1 in 20,000 a day per
    # normalised mailbox (the README states this figure).
    assert bound == 50 / 10**6 == 5 / 10**5 == 1 / 20_000
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert "10 sends \u00d7 5 checks a day per normalised mailbox or phone" in readme
    assert "50 guesses in 10⁶, a success chance of at most 5 in 10⁵ a day (1 in 20,000" in readme
    assert "5 in 10⁶" not in readme

    # And the service enforces it: an attacker hammering one destination is stopped.
    async with running_app(database_url, tmp_path, rate_limits={}) as running:
        key = await running.api_key()
        sends = checks = 0
        for _ in range(20):
            started = await start(running.client, key, "+14155550188")
            if started.status_code != 201:
                assert_refused_by(started, "code.send.destination")
                break
            sends += 1
            url = f"/v1/verifications/{started.json()['id']}/check"
            for guess in range(6):
                response = await running.client.post(
                    url, json={"code": f"{guess:06d}"}, headers=auth(key)
                )
                if response.status_code == 200 and response.json()["valid"] is False:
                    checks += 1
        assert sends == 3  # 3 a minute, then refused
        assert checks <= 5 * sends


async def test_sign_in_answers_the_same_for_existing_and_unknown_accounts(harness: Harness) -> None:
    """The same body; the timing is compared in test_enumeration_timing."""
    await harness.sign_up("erik@example.com")
    bodies: dict[str, set[str]] = {"existing": set(), "unknown": set()}
    for n in range(20):
        which = "existing" if n % 2 else "unknown"
        name = "erik@example.com" if n % 2 else f"ghost{n}@example.com"
        response = await harness.client.post(
            "/v1/sessions", json={"sign_in_name": name, "password": "not the password 1"}
        )
        assert response.status_code == 401
        bodies[which].add(response.text)
    assert bodies["existing"] == bodies["unknown"]
    assert len(bodies["existing"]) == 1


@pytest.fixture
async def tight(
    database_url: str, tmp_path: Path, backend: dict[str, Any]
) -> AsyncIterator[Harness]:
    overrides = limits_with(
        code__send__account="3/hour",
        code__send__country="2/hour",
        code__check__failures="3/day",
        sign_in__ip="2/minute",
    )
    async with running_app(database_url, tmp_path, rate_limits=overrides, **backend) as running:
        yield running


async def test_sends_per_account_and_per_country(tight: Harness) -> None:
    token = await tight.sign_up("ines@example.com")  # the sign-up code is the first send
    items = (await tight.client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    step_up = {"security_info_id": items[0]["id"]}
    for _ in range(2):
        response = await tight.client.post("/v1/me/step-up", json=step_up, headers=auth(token))
        assert response.status_code == 201
    assert_refused_by(
        await tight.client.post("/v1/me/step-up", json=step_up, headers=auth(token)),
        "code.send.account",
    )

    key = await tight.api_key()
    assert (await start(tight.client, key, "+14155550161")).status_code == 201
    assert (await start(tight.client, key, "+14155550162")).status_code == 201
    assert_refused_by(await start(tight.client, key, "+14155550163"), "code.send.country")
    assert (await start(tight.client, key, "+447400123456")).status_code == 201  # GB flows


async def test_consecutive_failed_checks_leave_only_the_slow_path(tight: Harness) -> None:
    key = await tight.api_key()
    first = await start(tight.client, key, "jon@example.com")
    code = await tight.latest_code("jon@example.com")
    url = f"/v1/verifications/{first.json()['id']}/check"
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):
        assert (await tight.client.post(url, json={"code": wrong}, headers=auth(key))).json()[
            "valid"
        ] is False
    # Even the right code is refused now: wait, then start a new verification.
    refused = await tight.client.post(url, json={"code": code}, headers=auth(key))
    assert_refused_by(refused, "code.check.failures")
    assert "new verification" in refused.json()["error"]["message"]


async def test_sign_ins_per_client_network(tight: Harness) -> None:
    for n in range(2):
        response = await tight.client.post(
            "/v1/sessions", json={"sign_in_name": f"n{n}@example.com", "password": "whatever 123"}
        )
        assert response.status_code == 401
    assert_refused_by(
        await tight.client.post(
            "/v1/sessions", json={"sign_in_name": "n9@example.com", "password": "whatever 123"}
        ),
        "sign_in.ip",
    )
