"""Authenticator apps and the recovery code in a real browser: add an app from its page
(the test reads the key off the page and computes the code as the app would), create a
recovery code, then sign in with each at 2-step verification."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp

from tests.e2e.browser import (
    Server,
    check_page,
    new_person,
    sign_in,
    sign_up,
    step_up,
)

RECOVERY_CODE = re.compile(r"^[2-9A-HJKMNP-Z]{5}(-[2-9A-HJKMNP-Z]{5}){4}$")


def test_add_an_authenticator_and_a_recovery_code_then_sign_in_with_each(
    browser: Any, web_server: Server
) -> None:
    email = "mary.jackson@example.com"
    person = new_person(browser, web_server)
    sign_up(person, email)
    page = person.page

    page.get_by_role("link", name="Add a way to verify").click()
    step_up(person, email)
    page.get_by_role("heading", name="Add a way to verify", level=1).wait_for()
    for kind in ("Email address or phone number", "Authenticator app", "Recovery code"):
        page.get_by_role("heading", name=kind, exact=True).wait_for()
    check_page(page, "add-a-way-to-verify")

    page.get_by_role("link", name="Add an authenticator app").click()
    page.get_by_label("Name for this app (optional)").fill("My phone")
    page.get_by_role("button", name="Set up the app").click()
    qr = page.get_by_role("img", name="QR code to scan with your authenticator app")
    assert qr.evaluate("element => element.tagName") == "svg"
    shown = page.locator("#secret").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", shown), shown
    secret = shown.replace(" ", "")
    check_page(page, "add-authenticator")
    app = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill(app.now())
    page.get_by_role("button", name="Verify and add").click()
    page.get_by_text("Your new security info is verified and active.").wait_for()
    main = page.locator("main").inner_text().casefold()  # kinds are shown in capitals
    assert "authenticator app" in main and "my phone" in main
    assert secret not in page.content()
    assert "An authenticator app was added to your account: My phone." in person.wait_for_message(
        email
    )

    person.go("/security/add")
    page.get_by_role("button", name="Create a recovery code").click()
    page.get_by_role("heading", name="Your recovery code").wait_for()
    code = page.locator("#recovery-code").inner_text()
    assert RECOVERY_CODE.match(code), code
    assert "write it down or print" in page.locator("main").inner_text()
    check_page(page, "recovery-code")
    page.get_by_role("link", name="I've written it down").click()
    page.get_by_role("heading", name="Security basics").wait_for()
    assert "recovery code" in page.locator("main").inner_text().casefold()

    person.go("/security/two-step")
    page.get_by_role("button", name="Turn on 2-step verification").click()
    page.get_by_text("2-step verification is on").first.wait_for()

    # 2-step sign-in: the authenticator is asked for first.
    page.get_by_role("button", name="Sign out").click()
    sign_in(person, email)
    page.get_by_role("heading", name="Use my authenticator app").wait_for()
    headings = page.get_by_role("heading", level=2).all_inner_texts()
    assert headings.index("Use my authenticator app") < headings.index("Use my recovery code")
    check_page(page, "sign-in-with-authenticator")
    # The code of the next time step: the current one was used to add the app.
    page.get_by_label("Code from your authenticator app").fill(app.at(time.time() + 30))
    page.get_by_role("button", name="Verify", exact=True).click()
    page.get_by_role("heading", name="Security basics").wait_for()

    # Step-up with the recovery code: it is used up, its replacement is shown once, and
    # the person goes on to what they were doing.
    person.go("/security/add")
    page.get_by_role("heading", name="Verify your identity").wait_for()
    page.get_by_role("heading", name="Use my authenticator app").wait_for()
    check_page(page, "step-up-with-authenticator")
    page.get_by_label("Recovery code").fill(code.lower())
    page.get_by_role("button", name="Use recovery code").click()
    page.get_by_role("heading", name="Your new recovery code").wait_for()
    replacement = page.locator("#recovery-code").inner_text()
    assert RECOVERY_CODE.match(replacement) and replacement != code
    check_page(page, "new-recovery-code")
    page.get_by_role("link", name="I've written it down").click()
    page.get_by_role("heading", name="Add a way to verify", level=1).wait_for()

    # And at sign-in: the old code is refused, the new one signs in and is replaced too.
    page.get_by_role("button", name="Sign out").click()
    sign_in(person, email)
    page.get_by_label("Recovery code").fill(code)
    page.get_by_role("button", name="Use recovery code").click()
    assert "not right" in page.get_by_role("alert").inner_text()
    page.get_by_label("Recovery code").fill(replacement)
    page.get_by_role("button", name="Use recovery code").click()
    page.get_by_role("heading", name="Your new recovery code").wait_for()
    assert page.locator("#recovery-code").inner_text() not in (code, replacement)
    page.get_by_role("link", name="I've written it down").click()
    page.get_by_role("heading", name="Security basics").wait_for()  # signed in
    assert "Your recovery code was just used" in person.wait_for_message(email)
    person.context.close()
