"""Passkeys in a real browser: Chromium's virtual authenticator (CTAP2, internal
transport, resident keys, user verification), driven over the DevTools protocol.

Register a passkey from Security basics, sign out, sign in with it (no name, no
password), step up with it, remove it. The pages are opened as http://localhost:PORT:
a passkey's relying-party id is a domain (``SECINFO_WEB_DOMAIN=localhost``), never an
IP address.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser import (
    Person,
    Server,
    check_page,
    new_person,
    sign_in,
    sign_up,
    start_server,
    step_up,
    stop_server,
)

NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"


@pytest.fixture(scope="module")
def passkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("passkeys"), host_name="localhost")
    yield server
    stop_server(server)


def with_virtual_authenticator(person: Person) -> tuple[Any, str]:
    """A platform authenticator on the person's page that verifies its user."""
    cdp = person.context.new_cdp_session(person.page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def test_register_sign_in_step_up_and_remove_a_passkey(
    browser: Any, passkey_server: Server
) -> None:
    email = "annie.easley@example.com"
    person = new_person(browser, passkey_server)
    page = person.page
    sign_up(person, email)
    cdp, authenticator = with_virtual_authenticator(person)  # on this site's page

    # Security basics: the button is there (WebAuthn works); adding needs a step-up first.
    page.get_by_role("heading", name="Passkeys").wait_for()
    assert not page.get_by_text("this option is hidden").is_visible()
    page.get_by_role("button", name="Add a passkey").click()
    step_up(person, email)
    page.get_by_role("heading", name="Security basics").wait_for()
    page.get_by_label("Name for this passkey (optional)").fill("This laptop")
    page.bring_to_front()  # back from the mailbox tab: WebAuthn needs a focused page
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_text("Your passkey is added.").wait_for()
    main = page.locator("main").inner_text()
    assert "Passkey" in main and "This laptop" in main
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(credentials["credentials"]) == 1
    assert credentials["credentials"][0]["isResidentCredential"] is True
    assert "A passkey was added to your account: This laptop." in person.wait_for_message(email)
    check_page(page, "security-basics-with-passkey")

    # Sign out, then sign in with the passkey alone. Passkey autofill (conditional UI)
    # asks as the page opens; the virtual authenticator answers at once, as a person
    # picking the passkey from the name field's suggestions would.
    page.bring_to_front()
    page.get_by_role("button", name="Sign out").click()
    person.go("/sign-in")
    page.get_by_role("heading", name="Security basics").wait_for()
    page.get_by_role("button", name="Sign out").click()

    # Where the browser has no passkey autofill: the button.
    page.add_init_script(NO_AUTOFILL)
    person.go("/sign-in")
    assert (
        page.get_by_label("Email address or phone number").get_attribute("autocomplete")
        == "username webauthn"
    )
    page.get_by_role("button", name="Sign in with a passkey").wait_for()
    check_page(page, "sign-in-with-passkey")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("heading", name="Security basics").wait_for()

    # Step up with it: removing needs a recent step-up.
    page.get_by_role("link", name="Remove This laptop").click()
    page.get_by_role("heading", name="Verify your identity").wait_for()
    page.get_by_role("heading", name="Use a passkey").wait_for()
    check_page(page, "step-up-with-passkey")
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("heading", name="Remove the passkey “This laptop”?").wait_for()
    page.get_by_role("button", name="Remove").click()
    page.get_by_text("The security info was removed.").wait_for()
    assert "This laptop" not in page.locator("main").inner_text()
    assert "A passkey was removed from your account: This laptop." in person.wait_for_message(email)

    # The authenticator still holds it, but the site no longer knows it: said in words.
    page.bring_to_front()
    page.get_by_role("button", name="Sign out").click()
    person.go("/sign-in")
    page.get_by_role("button", name="Sign in with a passkey").click()
    alert = page.locator("[data-passkey-error]")
    alert.wait_for()
    assert "not registered with any account" in alert.inner_text()
    person.context.close()


def test_without_webauthn_the_passkey_buttons_are_hidden_and_say_why(
    browser: Any, passkey_server: Server
) -> None:
    person = new_person(browser, passkey_server)
    page = person.page
    page.add_init_script("delete window.PublicKeyCredential;")
    person.go("/sign-in")
    page.get_by_text("This browser doesn't support passkeys (WebAuthn)").wait_for()
    assert not page.get_by_role("button", name="Sign in with a passkey").is_visible()
    person.context.close()


def test_a_passkey_is_one_proof_at_a_forgotten_password(
    browser: Any, passkey_server: Server
) -> None:
    email = "mary.winston@example.com"
    person = new_person(browser, passkey_server)
    page = person.page
    sign_up(person, email)
    with_virtual_authenticator(person)
    page.get_by_role("button", name="Add a passkey").click()
    step_up(person, email)
    page.bring_to_front()
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_text("Your passkey is added.").wait_for()
    # 2-step verification on (an email and a passkey are two kinds).
    person.go("/security/two-step")
    page.get_by_role("button", name="Turn on 2-step verification").click()
    page.get_by_text("2-step verification is on").first.wait_for()
    # A password sign-in asks for a code; the passkey does instead. (No passkey autofill
    # here: the virtual authenticator would answer it before the password is typed.)
    page.add_init_script(NO_AUTOFILL)
    page.get_by_role("button", name="Sign out").click()
    sign_in(person, email)
    page.get_by_role("heading", name="Use a passkey instead").wait_for()
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("heading", name="Security basics").wait_for()
    page.get_by_role("button", name="Sign out").click()

    # Forgot password: with 2-step on, the passkey is one of the two proofs.
    person.go("/forgot-password")
    page.get_by_label("Email address or phone number").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_role("heading", name="Or use a passkey").wait_for()
    check_page(page, "recovery-with-passkey")
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_text("That's one.").wait_for()
    page.get_by_label("Type the whole email address or phone number").fill(email)
    page.get_by_role("button", name="Send code").click()
    person.type_code(email)
    page.get_by_role("heading", name="Choose a new password").wait_for()
    person.context.close()
