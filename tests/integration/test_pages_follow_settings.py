"""Pages word the configured periods and rules from the settings, never from a copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import auth, running_app

pytestmark = pytest.mark.anyio


async def test_pages_say_the_configured_periods(database_url: str, tmp_path: Path) -> None:
    async with running_app(
        database_url,
        tmp_path,
        waiting_period_days=14,
        activity_retention_days=9,
        reconfirm_skip_hours=12,
    ) as harness:
        token = await harness.sign_up("paula@example.com")
        harness.client.cookies.set("secinfo_session", token)
        security = (await harness.client.get("/security")).text
        assert "Takes effect after 14 days." in security
        assert "(takes 14 days)" in security
        assert "changes of the last 9 days." in security
        replace = (await harness.client.get("/security/replace")).text
        assert "replaced after 14 days" in replace
        activity = (await harness.client.get("/security/activity")).text
        assert "of the last 9 days" in activity
        await harness.step_up(token, "paula@example.com")
        remove_all = (await harness.client.get("/security/remove-all")).text
        assert "removed in 14 days" in remove_all and "Remove all in 14 days" in remove_all
        for page in (security, replace, activity, remove_all):
            assert "30 days" not in page
        me = await harness.client.get("/v1/me", headers=auth(token))
        assert me.status_code == 200


async def test_password_fields_state_the_one_rule(database_url: str, tmp_path: Path) -> None:
    async with running_app(database_url, tmp_path) as harness:
        sign_up = (await harness.client.get("/sign-up")).text
        assert "At least 8 characters." in sign_up and 'minlength="8"' in sign_up
        assert "10 characters" not in sign_up
        nine = await harness.client.post(
            "/v1/accounts",
            json={"sign_in_name": "nina@example.com", "password": "nine char"},
        )
        assert nine.status_code == 202  # what the page says is what the rule is
        seven = await harness.client.post(
            "/v1/accounts",
            json={"sign_in_name": "sven@example.com", "password": "sevenxy"},
        )
        assert seven.json()["error"]["code"] == "weak_password"
        assert "at least 8 characters" in seven.json()["error"]["message"]


async def test_a_new_account_is_greeted_and_asked_for_a_second_way(
    database_url: str, tmp_path: Path
) -> None:
    async with running_app(database_url, tmp_path) as harness:
        token = await harness.sign_up("wendy@example.com")
        harness.client.cookies.set("secinfo_session", token)
        welcome = (await harness.client.get("/security?welcome=1")).text
        assert "Welcome to secinfo, your account is ready" in welcome
        assert "we*****@example.com is your only way to prove it" in welcome
        assert 'href="/security/add">Add a second way to verify' in welcome
        plain = (await harness.client.get("/security")).text
        assert "Welcome to" not in plain


async def test_page_dates_follow_the_readers_english(database_url: str, tmp_path: Path) -> None:
    from secinfo.domain.dates import format_moment

    async with running_app(database_url, tmp_path) as harness:
        token = await harness.sign_up("gil@example.com")
        harness.client.cookies.set("secinfo_session", token)
        now = harness.clock.now()
        british = await harness.client.get(
            "/security/activity", headers={"accept-language": "en-GB,en;q=0.8"}
        )
        assert format_moment(now, "en-GB")[:-10] in british.text  # "2 December 2026,"
        plain = await harness.client.get("/security/activity")
        assert format_moment(now, "en")[:-10] in plain.text  # "December 2, 2026,"
