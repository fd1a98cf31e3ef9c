"""Waiting periods and the reconfirm prompt in a real browser.

The server runs in real time. What needs months or 30 days to pass is arranged by the
test's own App on the same SQLite file, with a moved clock: it calls the services (sign
up a year ago, sign in every 80 days; complete the pending change 31 days later). The
codes of those arranged steps come from a fixed code generator in this process only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from secinfo.bootstrap import App, build
from secinfo.config import load_settings
from secinfo.domain.dates import format_day
from secinfo.domain.model import RequestContext
from secinfo.services import accounts, pending_changes, signin
from secinfo.services import verification as verification_service
from tests.e2e.browser import (
    PASSWORD,
    Server,
    check_page,
    link_in,
    masked,
    new_person,
    sign_in,
    sign_up,
    step_up,
)
from tests.support import MovableClock

T = TypeVar("T")
HERE = RequestContext(ip="127.0.0.1", user_agent="arranged by the test")


def run(action: Callable[[App, MovableClock], Awaitable[T]], server: Server) -> T:
    """Run ``action`` on a second App on the server's database (its own thread and loop)."""

    async def main() -> T:
        clock = MovableClock()
        app = build(load_settings(**server.settings()), clock=clock)
        try:
            return await action(app, clock)
        finally:
            await app.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


@pytest.fixture
def fixed_codes(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(verification_service, "generate_code", lambda *_: "246810")
    yield "246810"


def account_last_confirmed_a_year_ago(
    server: Server, email: str, asked_days_ago: int | None
) -> None:
    """Signed up 400 days ago and signed in every 80 days since (never a code since)."""

    async def arrange(app: App, clock: MovableClock) -> None:
        today = datetime.now(UTC)
        clock.current = today - timedelta(days=400)
        started = await accounts.sign_up(app.deps, email, PASSWORD, HERE)
        await accounts.confirm_sign_up(app.deps, started.verification_id, "246810", HERE)
        for days_ago in (320, 240, 160, 80):
            clock.current = today - timedelta(days=days_ago)
            result = await signin.sign_in(app.deps, email, PASSWORD, HERE)
            assert result.session is not None, result
        if asked_days_ago is not None:
            clock.current = today - timedelta(days=asked_days_ago)
            result = await signin.sign_in(app.deps, email, PASSWORD, HERE)
            assert result.challenge is not None  # the first "make sure you can still…"

    run(arrange, server)


def test_reconfirm_prompt_can_be_skipped_for_now(
    browser: Any, web_server: Server, fixed_codes: str
) -> None:
    email = "rosalind@example.com"
    account_last_confirmed_a_year_ago(web_server, email, asked_days_ago=None)
    person = new_person(browser, web_server)
    page = person.page
    sign_in(person, email)
    page.get_by_role("heading", name="Make sure you can still receive codes").wait_for()
    ends = format_day(datetime.now(UTC) + timedelta(days=7))
    skip_text = page.locator("form", has_text="Skip for now").inner_text()
    assert "24 hours at a time" in skip_text and ends in skip_text
    check_page(page, "reconfirm")
    page.get_by_role("button", name="Skip for now").click()
    page.get_by_role("heading", name="Security basics").wait_for()
    person.context.close()


def test_seven_days_after_the_first_prompt_sign_in_needs_a_verified_contact(
    browser: Any, web_server: Server, fixed_codes: str
) -> None:
    email = "chien-shiung@example.com"
    account_last_confirmed_a_year_ago(web_server, email, asked_days_ago=8)
    person = new_person(browser, web_server, phone=True)
    page = person.page
    sign_in(person, email)
    page.get_by_role("heading", name="Make sure you can still receive codes").wait_for()
    assert page.get_by_role("button", name="Skip for now").count() == 0
    assert "more than 7 days" in page.locator("main").inner_text()
    check_page(page, "reconfirm-required")
    page.get_by_role("button", name="Send code", exact=True).click()
    person.seen[email] = len(person.messages(email)) - 1  # the arranged messages are old
    person.type_code(email)
    page.get_by_role("heading", name="Security basics").wait_for()
    person.context.close()


def test_remove_all_shows_the_banner_everywhere_until_it_is_canceled(
    browser: Any, web_server: Server
) -> None:
    email = "hedy@example.com"
    person = new_person(browser, web_server)
    sign_up(person, email)
    page = person.page
    page.get_by_role("link", name="Remove all security info").click()
    step_up(person, email)
    page.get_by_role("button", name="Remove all in 30 days").click()
    page.get_by_text("Your request is waiting").wait_for()
    ends = format_day(datetime.now(UTC) + timedelta(days=30))
    for path in ("/security", "/security/activity", "/security/replace"):
        person.go(path)
        banner = page.get_by_role("region", name="A change to your security info is waiting")
        assert ends in banner.inner_text()
        assert "can't be changed" in banner.inner_text()
    person.go("/security")
    assert "Removal pending" in page.locator("ul.items").inner_text()
    check_page(page, "pending-change")
    person.go("/security/password")  # frozen: the page says until when, with no form
    frozen = page.locator(".frozen").inner_text()
    assert "Your password can't be changed until" in frozen and ends in frozen
    assert page.get_by_label("Current password").count() == 0
    check_page(page, "frozen-setting")

    page.get_by_role("link", name="Cancel this request").click()
    page.get_by_role("button", name="Cancel the change").click()
    page.get_by_text("The pending change is canceled").wait_for()
    assert page.get_by_role("region", name="A change to your security info is waiting").count() == 0
    assert "Verified" in page.locator("ul.items").inner_text()
    person.context.close()


def test_the_notice_links_to_its_page_and_the_end_asks_for_new_info(
    browser: Any, web_server: Server
) -> None:
    email = "emmy@example.com"
    person = new_person(browser, web_server)
    sign_up(person, email)
    page = person.page
    page.get_by_role("link", name="Remove all security info").click()
    step_up(person, email)
    page.get_by_role("button", name="Remove all in 30 days").click()
    page.get_by_text("Your request is waiting").wait_for()

    # The notice in the mailbox links to a page that cancels with a code (no session).
    notice = person.wait_for_message(email)
    stranger = new_person(browser, web_server, phone=True)
    stranger.go(link_in(notice).removeprefix(web_server.url))
    stranger.page.get_by_role("heading", name="A change to your security info").wait_for()
    check_page(stranger.page, "notice-link")
    stranger.context.close()

    # 31 days later the scheduled job completes it; the page asks for new info.
    async def complete(app: App, clock: MovableClock) -> int:
        clock.advance(days=31)
        return await pending_changes.complete_due(app.deps)

    assert run(complete, web_server) >= 1
    person.go("/security")
    assert page.get_by_role("region", name="A change to your security info is waiting").count() == 0
    assert "It's time to enter new security info" in page.locator("main").inner_text()
    person.context.close()


def test_i_dont_have_any_of_these_replaces_after_the_waiting_period(
    browser: Any, web_server: Server
) -> None:
    email = "mary@example.com"
    new_email = "mary.new@example.org"
    person = new_person(browser, web_server)
    sign_up(person, email)
    page = person.page
    page.get_by_role("link", name="I don't have any of these").click()
    check_page(page, "replace")
    page.get_by_label("Email address or phone number").fill(new_email)
    page.get_by_role("button", name="Send code").click()
    page.get_by_text(f"We sent a code to {masked(new_email)}").wait_for()
    person.type_code(new_email)
    page.get_by_text("Your request is waiting").wait_for()
    banner = page.get_by_role("region", name="A change to your security info is waiting")
    assert "replace your security info" in banner.inner_text()
    assert "Removal pending" in page.locator("ul.items").inner_text()
    person.context.close()
