"""I don't have a code at a sign-in challenge (the cool-down, then a second code), editing
a label (refused while a change waits), and the page for an address that has none."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.browser import (
    PASSWORD,
    Server,
    check_page,
    masked,
    new_person,
    sign_in,
    sign_up,
    start_server,
    step_up,
    stop_server,
)

COOLDOWN = 3  # seconds: short enough to wait for in a test


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Its own server, with a short resend cool-down."""
    server = start_server(tmp_path_factory.mktemp("quick"), resend_cooldown_seconds=COOLDOWN)
    yield server
    stop_server(server)


def test_i_dont_have_a_code_at_the_sign_in_challenge(browser: Any, quick_server: Server) -> None:
    # The account was opened from another network (127.0.1.1 stands for it).
    email = "annie@example.com"
    transport = httpx.HTTPTransport(local_address="127.0.1.1")
    with httpx.Client(base_url=quick_server.url, transport=transport) as elsewhere:
        started = elsewhere.post("/v1/accounts", json={"sign_in_name": email, "password": PASSWORD})
        person = new_person(browser, quick_server)
        code = person.code_for(email)
        confirmed = elsewhere.post(
            "/v1/accounts/confirm",
            json={"verification_id": started.json()["verification_id"], "code": code},
        )
        assert confirmed.status_code == 201, confirmed.text

    page = person.page
    sign_in(person, email)
    page.get_by_role("heading", name="Help us protect your account").wait_for()
    person.wait_for_message(email)  # the "doesn't look like you" notice
    page.get_by_label(f"Email {masked(email)}").check()
    page.get_by_role("button", name="Send code").click()
    page.get_by_role("heading", name="I don't have a code").wait_for()
    person.code_for(email)  # the first code

    page.get_by_role("button", name="Send a new code").click()  # too soon
    assert "wait" in page.get_by_role("alert").inner_text()
    cooldown = page.locator("#cooldown").inner_text()
    assert re.search(r"You can ask for another code in [1-9]\d* seconds", cooldown), cooldown
    check_page(page, "challenge-resend-cool-down")

    time.sleep(COOLDOWN + 0.5)
    page.get_by_role("button", name="Send a new code").click()
    page.get_by_text("We sent a new code.").wait_for()
    second_code = person.code_for(email)  # a new message: the second code
    page.get_by_label("Code", exact=True).fill(second_code)
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Security basics").wait_for()
    person.context.close()


def test_a_label_is_edited_and_refused_while_a_change_waits(
    browser: Any, web_server: Server
) -> None:
    email = "sophie@example.com"
    person = new_person(browser, web_server)
    sign_up(person, email)
    page = person.page
    edit = page.get_by_role("link", name=f"Edit label of {masked(email)}")
    label_path = edit.get_attribute("href")
    assert label_path
    edit.click()
    page.get_by_role("heading", name="Edit the label").wait_for()
    check_page(page, "edit-label")
    page.get_by_label("Label").fill("  personal   mail ")
    page.get_by_role("button", name="Save label").click()
    page.get_by_text("The label is saved.").wait_for()
    assert "personal mail" in page.locator("ul.items").inner_text()

    page.get_by_role("link", name="Remove all security info").click()
    step_up(person, email)
    page.get_by_role("button", name="Remove all in 30 days").click()
    page.get_by_text("Your request is waiting").wait_for()
    assert page.get_by_role("link", name=re.compile("Edit label")).count() == 0

    person.go(label_path)  # from a page opened before the change started
    page.get_by_label("Label").fill("work")
    page.get_by_role("button", name="Save label").click()
    alert = page.get_by_role("alert").inner_text()
    assert "waiting until" in alert and "Cancel the pending change" in alert
    page.get_by_role("region", name="A change to your security info is waiting").wait_for()
    check_page(page, "edit-label-refused")
    person.go("/security")
    assert "personal mail" in page.locator("ul.items").inner_text()
    person.context.close()


def test_an_address_without_a_page_gets_a_friendly_404(browser: Any, web_server: Server) -> None:
    person = new_person(browser, web_server)
    answer = person.page.goto(web_server.url + "/no-such-page")
    assert answer is not None and answer.status == 404
    person.page.get_by_role("heading", name="Page not found").wait_for()
    check_page(person.page, "not-found")
    api = person.page.request.get(web_server.url + "/v1/no-such-thing")
    assert api.status == 404 and api.json()["error"]["code"] == "not_found"
    person.context.close()
