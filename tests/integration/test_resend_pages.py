"""I don't have a code on the recovery page: the page is the same whether or not the
contact typed back matched (no enumeration), and it shows the cool-down."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Harness

pytestmark = pytest.mark.anyio


def _one(pattern: str, html: str) -> str:
    found = re.search(pattern, html)
    assert found, html
    return found.group(1)


async def _recovery_code_page(harness: Harness, contact: str) -> tuple[str, str, str]:
    """Start recovery for rita and type ``contact`` back: the code page, its token and
    the resend form's action."""
    page = (await harness.client.get("/forgot-password")).text
    token = _one(r'name="csrf_token" value="([^"]+)"', page)
    contacts = await harness.client.post(
        "/forgot-password", data={"csrf_token": token, "sign_in_name": "rita@example.com"}
    )
    action = _one(r'action="(/forgot-password/[^"]+/send)"', contacts.text)
    contact_id = _one(r'name="contact_id" value="([^"]+)"', contacts.text)
    code_page = await harness.client.post(
        action, data={"csrf_token": token, "contact_id": contact_id, "contact": contact}
    )
    assert code_page.status_code == 200, code_page.text
    return code_page.text, token, _one(r'action="(/forgot-password/[^"]+/resend)"', code_page.text)


def _shape(html: str) -> str:
    """The page without its ids and clock times."""
    html = re.sub(r"(rcv|ver)_[0-9a-f]+", "ID", html)
    html = re.sub(r"\d\d:\d\d:\d\d", "TIME", html)
    return re.sub(r'value="[^"]{40,}"', 'value="TOKEN"', html)


async def test_recovery_resend_answers_the_same_for_a_wrong_contact(harness: Harness) -> None:
    await harness.sign_up("rita@example.com")
    pages = []
    for contact in ("rita@example.com", "someone-else@example.com"):
        code_page, token, resend = await _recovery_code_page(harness, contact)
        assert "You can ask for another code in 30 seconds" in code_page
        verification_id = _one(r'name="verification_id" value="([^"]+)"', code_page)
        too_soon = await harness.client.post(
            resend, data={"csrf_token": token, "verification_id": verification_id}
        )
        assert too_soon.status_code == 429
        assert "wait before asking for another" in too_soon.text
        assert re.search(r"You can ask for another code in \d+ seconds", too_soon.text)
        harness.clock.advance(seconds=31)
        again = await harness.client.post(
            resend, data={"csrf_token": token, "verification_id": verification_id}
        )
        assert again.status_code == 200
        assert "If that is the contact on file, we sent a new code to it." in again.text
        pages.append((_shape(code_page), too_soon.status_code, _shape(again.text)))
    assert pages[0] == pages[1]
    codes = [m for m in await harness.mailbox("rita@example.com") if "code" in m["subject"].lower()]
    assert len(codes) == 3  # sign-up, and two recovery codes to the right contact only


async def test_a_code_page_after_a_resend_still_says_where_the_code_went(
    harness: Harness,
) -> None:
    """Sent, resent, or refused as too early: the step-up code page names the (masked)
    contact every time, and a refusal shows the time left, not a fresh cool-down."""
    token = await harness.sign_up("sam@example.com")
    harness.client.cookies.set("secinfo_session", token)
    step_up = (await harness.client.get("/security/verify?next=/security")).text
    csrf = _one(r'name="csrf_token" value="([^"]+)"', step_up)
    item_id = _one(r'name="security_info_id" value="([^"]+)"', step_up)
    sent = await harness.client.post(
        "/security/verify", data={"csrf_token": csrf, "security_info_id": item_id, "next": ""}
    )
    where = "We sent a code to <strong>sa*****@example.com</strong>."
    assert where in sent.text
    assert "You can ask for another code in 30 seconds" in sent.text
    resend = _one(r'action="(/security/verify/ver_[0-9a-f]+/resend)"', sent.text)

    harness.clock.advance(seconds=12)
    too_soon = await harness.client.post(resend, data={"csrf_token": csrf, "next": ""})
    assert too_soon.status_code == 429
    assert where in too_soon.text
    assert "You can ask for another code in 18 seconds" in too_soon.text

    harness.clock.advance(seconds=19)
    again = await harness.client.post(resend, data={"csrf_token": csrf, "next": ""})
    assert again.status_code == 200, again.text
    assert "We sent a new code." in again.text
    assert where in again.text
    assert "You can ask for another code in 30 seconds" in again.text


async def test_the_add_code_page_names_the_new_contact(harness: Harness) -> None:
    token = await harness.sign_up("abe@example.com")
    await harness.step_up(token, "abe@example.com")
    harness.client.cookies.set("secinfo_session", token)
    form = (await harness.client.get("/security/add")).text
    csrf = _one(r'name="csrf_token" value="([^"]+)"', form)
    added = await harness.client.post(
        "/security/add",
        data={"csrf_token": csrf, "kind": "phone", "value": "+1 415 555 0123", "label": ""},
    )
    assert added.status_code == 200, added.text
    assert "We sent a code to <strong>*********23</strong>." in added.text
