"""Security basics in a real browser: step-up and back, add a phone with its code and
"I don't have a code", sign-in options, password, 2-step, recent activity, remove."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import (
    PASSWORD,
    Server,
    check_page,
    masked,
    new_person,
    sign_in,
    sign_up,
    step_up,
)

PHONE = "+14155550189"


def add_phone(person: Any, email: str, *, check: bool = False) -> None:
    page = person.page
    page.get_by_role("link", name="Add a way to verify").click()
    step_up(person, email)  # back on the add page afterwards
    page.get_by_role("heading", name="Add a way to verify", level=1).wait_for()
    if check:
        check_page(page, "add-security-info")
    page.get_by_label("A phone number (text message)").check()
    page.get_by_label("Email address or phone number").fill(PHONE)
    page.get_by_label("Label (optional)").fill("mobile")
    page.get_by_role("button", name="Send code").click()
    page.get_by_text(f"We sent a code to {masked(PHONE)}").wait_for()
    person.type_code(PHONE)
    page.get_by_text("Your new security info is verified and active.").wait_for()


def test_add_a_phone_after_a_step_up_and_ask_for_a_new_code(
    browser: Any, web_server: Server
) -> None:
    email = "margaret@example.com"
    person = new_person(browser, web_server)
    sign_up(person, email)
    page = person.page
    page.get_by_role("link", name="Add a way to verify").click()
    assert "/security/verify?next=/security/add" in page.url
    check_page(page, "step-up")
    step_up(person, email)
    page.get_by_role("heading", name="Add a way to verify", level=1).wait_for()
    assert page.url.endswith("/security/add")

    page.get_by_label("A phone number (text message)").check()
    page.get_by_label("Email address or phone number").fill(PHONE)
    page.get_by_role("button", name="Send code").click()
    first = person.code_for(PHONE)
    page.get_by_role("heading", name="I don't have a code").wait_for()
    assert "You can ask for another code in" in page.locator("#cooldown").inner_text()
    check_page(page, "add-code")
    page.get_by_role("button", name="Send a new code").click()
    assert "wait" in page.get_by_role("alert").inner_text()  # the cool-down is shown

    page.get_by_label("Code", exact=True).fill(first)
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("Your new security info is verified and active.").wait_for()
    phone_row = page.locator("ul.items li", has_text=masked(PHONE))
    assert "Verified" in phone_row.inner_text()
    assert "Last used" in phone_row.inner_text()
    # Everyone else was told.
    assert "added" in person.wait_for_message(email).lower()
    person.context.close()


def test_sign_in_options_password_and_two_step(browser: Any, web_server: Server) -> None:
    email = "katherine@example.com"
    person = new_person(browser, web_server)
    sign_up(person, email)
    add_phone(person, email, check=True)
    page = person.page

    # Sign-in options: the email can't be switched off while it is the only name.
    page.get_by_role("link", name="Sign-in options").click()
    check_page(page, "sign-in-options")
    page.get_by_role("button", name=f"Turn off sign-in for {masked(email)}").click()
    assert "must stay switched on" in page.get_by_role("alert").inner_text()
    page.get_by_role("button", name=f"Turn on sign-in for {masked(PHONE)}").click()
    page.get_by_text("That contact can now be used to sign in").wait_for()
    page.get_by_role("button", name=f"Turn off sign-in for {masked(email)}").click()
    page.get_by_text("can no longer be used to sign in").wait_for()

    # 2-step verification on (an email and a phone: two kinds).
    person.go("/security")
    page.get_by_role("link", name="2-step verification").click()
    check_page(page, "two-step")
    page.get_by_role("button", name="Turn on 2-step verification").click()
    page.get_by_text("2-step verification is on").wait_for()

    # Password.
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("a brand new passphrase 3")
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("Your password is changed.").wait_for()

    # Signing in with the phone now needs the new password and, with 2-step on, a code.
    page.get_by_role("button", name="Sign out").click()
    sign_in(person, email, "a brand new passphrase 3")
    assert "do not match" in page.get_by_role("alert").inner_text()  # no longer a name
    sign_in(person, PHONE, "a brand new passphrase 3")
    page.get_by_role("heading", name="Help us protect your account").wait_for()
    assert "2-step verification is on" in page.locator("main").inner_text()
    page.get_by_label(f"Text {masked(PHONE)}").check()
    page.get_by_role("button", name="Send code").click()
    person.type_code(PHONE)
    page.get_by_role("heading", name="Security basics").wait_for()

    # Off again: a new step-up in this new session first, then back to the page.
    page.get_by_role("link", name="2-step verification").click()
    step_up(person, PHONE)
    page.get_by_role("button", name="Turn off 2-step verification").click()
    page.get_by_text("2-step verification is off.").wait_for()
    person.context.close()


def test_remove_one_and_recent_activity_with_this_was_not_me(
    browser: Any, web_server: Server
) -> None:
    email = "dorothy@example.com"
    person = new_person(browser, web_server, phone=True)
    sign_up(person, email)
    add_phone(person, email)
    page = person.page
    page.get_by_role("link", name=f"Remove {masked(PHONE)}").click()
    page.get_by_role("heading", name=f"Remove {masked(PHONE)}?").wait_for()
    check_page(page, "remove")
    page.get_by_role("button", name="Remove").click()
    page.get_by_text("The security info was removed.").wait_for()
    assert page.locator("ul.items li", has_text=masked(PHONE)).count() == 0

    page.get_by_role("link", name="Recent activity").first.click()
    events = page.locator("ol.events li")
    texts = events.all_inner_texts()
    assert "Security info removed" in texts[0]
    assert any("Signed in" in text or "Sign-up finished" in text for text in texts)
    assert "127.0.0.1" in texts[0]
    check_page(page, "recent-activity")

    events.first.get_by_role("link", name="This wasn't me").click()
    page.get_by_role("button", name="Secure my account").click()
    page.get_by_text("Your account is secured").wait_for()
    sign_in(person, email)
    assert "reset the password" in page.get_by_role("alert").inner_text()
    person.context.close()
