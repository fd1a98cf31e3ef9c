"""Verifying with another account: the alternate email being added is itself the
sign-in name of another account here. The person reads the code by signing in to that
account, in another tab of the same browser (the session cookie becomes the other
account's) or in a private window, then types it in the first tab."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import (
    PASSWORD,
    Person,
    Server,
    masked,
    new_person,
    sign_in,
    sign_up,
    step_up,
)
from tests.support import code_in


def start_adding(person: Person, own: str, other: str) -> None:
    """Signed in and stepped up, add ``other`` (with a label); the code page stays open."""
    page = person.page
    page.get_by_role("link", name="Add a way to verify").click()
    step_up(person, own)
    page.get_by_role("heading", name="Add a way to verify", level=1).wait_for()
    page.get_by_label("An email address").check()
    page.get_by_label("Email address or phone number").fill(other)
    page.get_by_label("Label (optional)").fill("my other account")
    page.get_by_role("button", name="Send code").click()
    page.get_by_text(f"We sent a code to {masked(other)}").wait_for()


def other_account(browser: Any, web_server: Server, name: str) -> Person:
    """Account B, signed up in its own window (then closed)."""
    person = new_person(browser, web_server)
    sign_up(person, name)
    person.context.close()
    return person


def only_own_info(page: Any, own: str, other: str) -> None:
    """B's Security basics: B's own sign-in name, nothing of A's, no label A chose."""
    page.get_by_role("heading", name="Security basics").wait_for()
    items = page.locator("ul.items li").all_inner_texts()
    assert len(items) == 1 and masked(own) in items[0], items
    text = page.locator("main").inner_text()
    assert masked(other) not in text and "my other account" not in text


def test_other_account_in_another_tab_of_the_same_browser(browser: Any, web_server: Server) -> None:
    first, second = "quinn@example.net", "ravi@example.net"
    b = other_account(browser, web_server, second)
    a = new_person(browser, web_server)
    sign_up(a, first)
    start_adding(a, first, second)
    tab1 = a.page

    # Tab 2, same cookies: signing in as B replaces A's session cookie.
    tab2 = a.context.new_page()
    reader = Person(web_server, a.context, tab2, tab2, seen=dict(b.seen))
    tab2.goto(web_server.url + "/sign-in")
    sign_in(reader, second)
    only_own_info(tab2, second, first)
    message = reader.wait_for_message(second)
    assert masked(first) in message  # the message names the account asking
    code = code_in(message)

    # Back to tab 1: a wrong code first (it counts), and the page shows nothing of B's
    # session (no account menu).
    tab1.get_by_label("Code", exact=True).fill("000000" if code != "000000" else "111111")
    tab1.get_by_role("button", name="Verify").click()
    assert "not right" in tab1.get_by_role("alert").inner_text()
    assert tab1.get_by_role("navigation", name="Account").count() == 0
    tab1.get_by_role("heading", name="Enter the code we sent to your new contact").wait_for()

    tab1.get_by_label("Code", exact=True).fill(code)
    tab1.get_by_role("button", name="Verify").click()
    tab1.get_by_role("heading", name="Your new security info is verified").wait_for()
    done = tab1.locator("main").inner_text()
    assert masked(first) in done and masked(second) in done
    assert "signed in to a different account" in done, done

    # B is untouched: still only its own sign-in name.
    tab2.goto(web_server.url + "/security")
    only_own_info(tab2, second, first)

    # Back in A: the new email is verified, with A's label.
    tab1.get_by_role("link", name=f"Sign in to {masked(first)}").click()
    tab1.get_by_label("Email address or phone number").fill(first)
    tab1.get_by_label("Password").fill(PASSWORD)
    tab1.get_by_role("button", name="Sign in", exact=True).click()
    tab1.get_by_role("heading", name="Security basics").wait_for()
    row = tab1.locator("ul.items li", has_text=masked(second))
    assert "Verified" in row.inner_text() and "my other account" in row.inner_text()
    a.context.close()


def test_other_account_in_a_private_window(browser: Any, web_server: Server) -> None:
    first, second = "ulla@example.net", "vera@example.net"
    b = other_account(browser, web_server, second)
    a = new_person(browser, web_server)
    sign_up(a, first)
    start_adding(a, first, second)

    private = new_person(browser, web_server)  # its own cookies
    private.seen = dict(b.seen)
    sign_in(private, second)
    only_own_info(private.page, second, first)
    code = private.code_for(second)

    a.page.get_by_label("Code", exact=True).fill(code)
    a.page.get_by_role("button", name="Verify").click()
    a.page.get_by_text("Your new security info is verified and active.").wait_for()
    row = a.page.locator("ul.items li", has_text=masked(second))
    assert "Verified" in row.inner_text() and "my other account" in row.inner_text()

    private.go("/security")
    only_own_info(private.page, second, first)
    private.context.close()
    a.context.close()
