"""Recent activity: what is recorded, "this wasn't me", retention, countries, metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from secinfo.scheduler import run_jobs_once
from tests.conftest import Harness, auth, running_app

pytestmark = pytest.mark.anyio

EMAIL = "vera@example.com"
PASSWORD = "a long passphrase 1"


async def test_this_wasnt_me_ends_every_session_and_requires_a_password_reset(
    harness: Harness,
) -> None:
    token = await harness.sign_up(EMAIL, PASSWORD)
    other = (
        await harness.client.post(
            "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
        )
    ).json()["token"]
    events = (await harness.client.get("/v1/me/activity", headers=auth(token))).json()["events"]
    sign_in = next(event for event in events if event["type"] == "account:sign_in:success")
    reported = await harness.client.post(
        f"/v1/me/activity/{sign_in['id']}/not-me", headers=auth(token)
    )
    assert reported.status_code == 200
    assert reported.json() == {"revoked_sessions": 2}
    for session in (token, other):
        assert (await harness.client.get("/v1/me", headers=auth(session))).status_code == 401
    refused = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "password_reset_required"
    assert (await harness.mailbox(EMAIL))[0]["subject"] == "We secured your secinfo account"

    # Recovery resets the password and lifts the requirement.
    recovery = (await harness.client.post("/v1/recovery", json={"sign_in_name": EMAIL})).json()
    base = f"/v1/recovery/{recovery['recovery_id']}"
    sent = await harness.client.post(
        f"{base}/send", json={"contact_id": recovery["contacts"][0]["contact_id"], "contact": EMAIL}
    )
    await harness.client.post(
        f"{base}/verify",
        json={
            "verification_id": sent.json()["verification_id"],
            "code": await harness.latest_code(EMAIL),
        },
    )
    assert (
        await harness.client.post(f"{base}/reset", json={"new_password": "fresh passphrase 9"})
    ).status_code == 204
    again = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": "fresh passphrase 9"}
    )
    assert again.status_code == 201


async def test_activity_is_kept_30_days_and_pages_newest_first(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL, PASSWORD)
    for _ in range(3):
        await harness.client.post(
            "/v1/sessions", json={"sign_in_name": EMAIL, "password": "nope nope 1"}
        )
    first = (await harness.client.get("/v1/me/activity?limit=2", headers=auth(token))).json()
    assert [event["outcome"] for event in first["events"]] == ["wrong_password", "wrong_password"]
    second = (
        await harness.client.get(
            f"/v1/me/activity?limit=2&before={first['next_before']}", headers=auth(token)
        )
    ).json()
    ids = {event["id"] for event in first["events"]} | {event["id"] for event in second["events"]}
    assert len(ids) == 4

    harness.clock.advance(days=29)
    fresh = (
        await harness.client.post(
            "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
        )
    ).json()["token"]
    harness.clock.advance(days=2)
    purged = await run_jobs_once(harness.app.deps)
    assert purged["activity_purged"] >= 5
    left = (await harness.client.get("/v1/me/activity", headers=auth(fresh))).json()["events"]
    assert [event["type"] for event in left] == ["account:sign_in:success"]


async def test_country_comes_from_a_local_database_file(database_url: str, tmp_path: Path) -> None:
    geoip = tmp_path / "countries.csv"
    geoip.write_text("network,country\n203.0.113.0/24,NZ\n2001:db8::/32,DE\n")
    async with running_app(database_url, tmp_path, geoip_csv=str(geoip)) as running:
        token = await running.sign_up(EMAIL, PASSWORD)
        events = (await running.client.get("/v1/me/activity", headers=auth(token))).json()["events"]
        assert {event["country"] for event in events} == {"NZ"}


async def test_metrics_count_refusals_and_codes_by_country(harness: Harness) -> None:
    key = await harness.api_key()
    await harness.client.post(
        "/v1/verifications", json={"to": "+447400123456", "channel": "sms"}, headers=auth(key)
    )
    page = (await harness.client.get("/metrics")).text
    assert 'secinfo_codes_sent_total{channel="sms",country="GB"}' in page


CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


async def test_the_activity_page_names_the_item_the_outcome_and_the_device(
    harness: Harness,
) -> None:
    harness.client.headers["user-agent"] = CHROME_ON_WINDOWS
    token = await harness.sign_up("ada@example.com")
    await harness.step_up(token, "ada@example.com")
    added = (
        await harness.client.post(
            "/v1/me/security-info",
            json={"kind": "phone", "value": "+14155550123", "label": "work phone"},
            headers=auth(token),
        )
    ).json()
    await harness.client.post(
        f"/v1/me/security-info/{added['item']['id']}/verify",
        json={
            "verification_id": added["verification"]["id"],
            "code": await harness.latest_code("+14155550123"),
        },
        headers=auth(token),
    )
    removed = await harness.client.delete(
        f"/v1/me/security-info/{added['item']['id']}", headers=auth(token)
    )
    assert removed.status_code == 200, removed.text
    wrong = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": "ada@example.com", "password": "not the one 9"}
    )
    assert wrong.status_code == 401

    harness.client.cookies.set("secinfo_session", token)
    page = (await harness.client.get("/security/activity")).text
    events = re.findall(r'<li class="event[^"]*">(.*?)</li>', page, re.S)
    by_title = {re.search(r"<strong>(.*?)</strong>", event).group(1): event for event in events}
    removal = by_title["Security info removed"]
    assert "*********23" in removal and "work phone" in removal
    addition = by_title["Security info added"]
    assert "*********23" in addition
    assert "pending" not in addition and "waiting for its code" not in addition  # verified since
    failure = by_title["Sign-in with a wrong password"]
    assert '<span class="badge warn">wrong password</span>' in failure
    assert "<summary>Chrome on Windows</summary>" in removal
    assert f'<span class="user-agent">{CHROME_ON_WINDOWS}</span>' in removal  # in full
