"""Your data in a real browser: from Security basics to the page (a code first),
download the JSON file, then close the account with the password; signing in again
says the closure was canceled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.browser import (
    PASSWORD,
    Server,
    check_page,
    new_person,
    sign_in,
    sign_up,
    step_up,
)


def test_download_your_data_then_close_and_come_back(browser: Any, web_server: Server) -> None:
    email = "dorothea@example.com"
    person = new_person(browser, web_server)
    sign_up(person, email)
    page = person.page
    page.get_by_role("link", name="Your data").first.click()
    assert "/security/verify?next=/security/data" in page.url
    step_up(person, email)
    page.get_by_role("heading", name="Your data", level=1).wait_for()
    check_page(page, "your-data")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download your data").click()
    download = download_info.value
    assert download.suggested_filename.startswith("secinfo-export-acc_")
    document = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert [item["value"] for item in document["security_info"]] == [email]
    assert "downloaded" in person.wait_for_message(email)

    # A wrong password closes nothing and says so.
    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Close my account").click()
    assert "password is not right" in page.get_by_role("alert").inner_text()
    check_page(page, "your-data-error")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Close my account").click()
    page.get_by_text("Your account is closed and you're signed out.").wait_for()
    assert "30 days" in page.get_by_text("Your account is closed").inner_text()
    assert "closed" in person.wait_for_message(email)

    sign_in(person, email)
    page.get_by_text("you signed in, so your account stays open").wait_for()
    assert page.url.endswith("/security?notice=closure_canceled")
    assert "closure of your account was canceled" in person.wait_for_message(email)
    person.context.close()
