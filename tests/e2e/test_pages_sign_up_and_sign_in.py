"""A person signs up, out and in again in a real browser; a new browser on a new
network is challenged; forgot password shows masked contacts and wants them typed."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.browser import (
    PASSWORD,
    Server,
    check_page,
    masked,
    new_person,
    sign_in,
    sign_up,
)
from tests.support import code_in


def test_sign_up_sign_out_and_sign_in_again(browser: Any, web_server: Server) -> None:
    person = new_person(browser, web_server)
    page = person.page
    person.go("/")
    assert page.url.endswith("/sign-in")
    check_page(page, "sign-in")

    sign_up(person, "ada@example.com", check=True)
    items = page.locator("ul.items li")
    assert items.count() == 1
    assert "ad*****@example.com" in items.first.inner_text()
    assert "Sign-in name" in items.first.inner_text()
    check_page(page, "security-basics")
    check_page(person.mail, "mailbox")  # where the code was read

    cookies = {cookie["name"]: cookie for cookie in person.context.cookies()}
    session = cookies["secinfo_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert not session["secure"]  # development over plain HTTP; Secure outside development
    assert cookies["secinfo_device"]["httpOnly"]
    assert cookies["secinfo_device"]["expires"] > session["expires"]

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You're signed out.").wait_for()
    person.go("/security")
    assert "/sign-in?next=/security" in page.url

    sign_in(person, "ada@example.com", "not the password at all")
    alert = page.get_by_role("alert")
    assert "do not match" in alert.inner_text()
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"

    sign_in(person, "ada@example.com")  # a known browser: no code needed
    page.get_by_role("heading", name="Security basics").wait_for()
    person.context.close()


def test_sign_up_code_page_resend_shows_the_cool_down(browser: Any, web_server: Server) -> None:
    person = new_person(browser, web_server)
    page = person.page
    person.go("/sign-up")
    page.get_by_label("Email address or phone number").fill("grace@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    code_field = page.get_by_label("Code", exact=True)
    assert code_field.get_attribute("autocomplete") == "one-time-code"
    assert code_field.get_attribute("inputmode") == "numeric"
    first_code = person.code_for("grace@example.com")

    page.get_by_role("button", name="Send a new code").click()  # too soon
    assert "wait" in page.get_by_role("alert").inner_text()

    code_field.fill("000000" if first_code != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    assert "not right" in page.get_by_role("alert").inner_text()
    page.get_by_label("Code", exact=True).fill(first_code)
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Security basics").wait_for()
    person.context.close()


def test_a_new_browser_on_a_new_network_is_asked_for_a_code(
    browser: Any, web_server: Server
) -> None:
    # The account was opened from another network (127.0.1.1 stands for it).
    email = "linus@example.com"
    transport = httpx.HTTPTransport(local_address="127.0.1.1")
    with httpx.Client(base_url=web_server.url, transport=transport) as elsewhere:
        started = elsewhere.post("/v1/accounts", json={"sign_in_name": email, "password": PASSWORD})
        person = new_person(browser, web_server)
        code = person.code_for(email)
        confirmed = elsewhere.post(
            "/v1/accounts/confirm",
            json={"verification_id": started.json()["verification_id"], "code": code},
        )
        assert confirmed.status_code == 201, confirmed.text

    page = person.page
    sign_in(person, email)
    page.get_by_role("heading", name="Help us protect your account").wait_for()
    assert "looks unusual" in page.locator("main").inner_text()
    assert "doesn't look like you" in person.wait_for_message(email)  # the holder is warned
    check_page(page, "unusual-sign-in")
    page.get_by_label(f"Email {masked(email)}").check()
    page.get_by_role("button", name="Send code").click()
    person.type_code(email)
    page.get_by_role("heading", name="Security basics").wait_for()
    person.context.close()


def test_forms_without_the_csrf_token_are_refused(browser: Any, web_server: Server) -> None:
    person = new_person(browser, web_server)
    person.go("/sign-in")
    answer = person.page.request.post(
        web_server.url + "/sign-in",
        form={"sign_in_name": "ada@example.com", "password": PASSWORD},
    )
    assert answer.status == 403
    assert "This form has expired" in answer.text()
    forged = person.page.request.post(
        web_server.url + "/sign-in",
        form={"sign_in_name": "ada@example.com", "password": PASSWORD, "csrf_token": "x" * 64},
    )
    assert forged.status == 403
    person.context.close()


def test_forgot_password_with_masked_contacts_typed_back(browser: Any, web_server: Server) -> None:
    email = "barbara@example.com"
    person = new_person(browser, web_server, phone=True)
    sign_up(person, email)
    page = person.page
    page.get_by_role("button", name="Sign out").click()

    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email address or phone number you sign in with").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_text(f"Email {masked(email)}").wait_for()
    check_page(page, "forgot-password")
    page.get_by_label("Type the whole email address or phone number").fill("barbie@example.com")
    page.get_by_role("button", name="Send code").click()
    page.get_by_role("heading", name="Enter the code").wait_for()  # the same answer
    page.get_by_role("link", name="Start again").click()

    page.get_by_label("Email address or phone number you sign in with").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Type the whole email address or phone number").fill(email)
    page.get_by_role("button", name="Send code").click()
    body = person.wait_for_message(email)
    page.get_by_label("Code", exact=True).fill(code_in(body))
    page.get_by_role("button", name="Verify").click()
    page.get_by_label("New password").fill("another long passphrase 2")
    page.get_by_role("button", name="Reset password").click()
    page.get_by_text("Your password is reset").wait_for()

    sign_in(person, email, "another long passphrase 2")
    page.get_by_role("heading", name="Security basics").wait_for()
    person.context.close()
