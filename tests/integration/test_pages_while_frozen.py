"""While a change waits, the pages show each frozen setting with its end date and the
cancel link, and offer no form that would only be refused."""

from __future__ import annotations

from datetime import datetime
from html import unescape

import pytest

from secinfo.domain.dates import format_day, format_moment
from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio

EMAIL = "fran@example.com"
OTHER = "fran.work@example.com"


async def add_email(harness: Harness, token: str, value: str) -> str:
    added = (
        await harness.client.post(
            "/v1/me/security-info", json={"kind": "email", "value": value}, headers=auth(token)
        )
    ).json()
    verified = await harness.client.post(
        f"/v1/me/security-info/{added['item']['id']}/verify",
        json={
            "verification_id": added["verification"]["id"],
            "code": await harness.latest_code(value),
        },
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text
    return str(added["item"]["id"])


async def test_settings_show_frozen_without_forms(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL)
    await harness.step_up(token, EMAIL)
    other = await add_email(harness, token, OTHER)
    turned = await harness.client.put(
        f"/v1/me/security-info/{other}/sign-in", json={"enabled": False}, headers=auth(token)
    )
    assert turned.status_code == 200, turned.text
    change = (
        await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    ).json()
    harness.clock.advance(minutes=11)  # the step-up has run out: frozen pages need none
    harness.client.cookies.set("secinfo_session", token)
    ends = format_moment(datetime.fromisoformat(change["ends_at"].replace("Z", "+00:00")))
    until = f"can't be changed until {ends}"

    security = unescape((await harness.client.get("/security")).text)
    assert f"Can't be changed until {ends}." in security
    for form_link in ("/security/password", "/security/two-step", "/security/remove-all"):
        assert f'href="{form_link}"' not in security, form_link
    assert 'href="/security/pending-change"' in security

    for path in ("/security/password", "/security/two-step", "/security/add"):
        page = await harness.client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        assert until in unescape(page.text), path
        assert '<form method="post" action="/security/' not in page.text.split("</header>")[1], path
        assert 'href="/security/pending-change">Cancel the request' in page.text

    remove_all = unescape((await harness.client.get("/security/remove-all")).text)
    assert until in remove_all and "Remove all in 30 days" not in remove_all

    options = unescape((await harness.client.get("/security/sign-in-options")).text)
    assert "fr*****@example.com" in options and "Sign-in off" in options  # still listed
    assert "<button" not in options.split("</header>")[1]
    assert until in options


async def test_the_new_contact_of_a_replacement_reads_verified(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL)
    started = await harness.client.post(
        "/v1/me/security-info/replace",
        json={"kind": "phone", "value": "+1 415 555 0177"},
        headers=auth(token),
    )
    confirmed = await harness.client.post(
        "/v1/me/security-info/replace/confirm",
        json={
            "verification_id": started.json()["verification"]["id"],
            "code": await harness.latest_code("+14155550177"),
        },
        headers=auth(token),
    )
    change = confirmed.json()["pending_change"]
    harness.client.cookies.set("secinfo_session", token)
    page = (await harness.client.get("/security")).text
    phone = page.split("*********77")[1].split("</li>")[0]
    ends_on = format_day(datetime.fromisoformat(change["ends_at"].replace("Z", "+00:00")))
    assert '<span class="badge ok">Verified</span>' in phone
    assert f"active on {ends_on}" in phone
    assert "Not verified" not in phone and "Last used" not in phone


async def test_security_basics_reads_the_account_once(harness: Harness) -> None:
    """One read for what the page shows (items, 2-step, the waiting change), besides the
    session's: not one unit of work per thing shown."""
    token = await harness.sign_up(EMAIL)
    await harness.step_up(token, EMAIL)
    await add_email(harness, token, OTHER)
    await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    harness.client.cookies.set("secinfo_session", token)
    deps = harness.app.deps
    opened: list[int] = []
    factory = deps.uow

    def counting() -> object:
        opened.append(1)
        return factory()

    deps.uow = counting  # type: ignore[assignment]
    try:
        page = await harness.client.get("/security")
    finally:
        deps.uow = factory
    assert page.status_code == 200
    assert "Can't be changed until" in unescape(page.text)  # the waiting change is shown
    assert len(opened) == 2, f"{len(opened)} units of work for one page"
