"""Control characters are refused at the edge (issue 11 item 2): a path that carries one is
404, a query parameter or body field 422 naming the field; never a 500 (PostgreSQL refuses
NUL in text), and nothing is stored (SQLite would have kept it)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.tables import (
    accounts,
    activity_events,
    outbox,
    security_info,
    verifications,
)
from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio

EMAIL = "nul.tester@example.com"
BAD = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\u2066", "\ud800"]
BAD_IDS = ["%00", "%0A", "%1B", "%C2%85", "%E2%80%AE"]


async def row_counts(harness: Harness) -> dict[str, int]:
    async with harness.app.engine.connect() as connection:
        return {
            table.name: int(
                await connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            )
            for table in (accounts, security_info, verifications, outbox, activity_events)
        }


async def signed_in(harness: Harness) -> tuple[str, str, str]:
    token = await harness.sign_up(EMAIL)
    await harness.step_up(token, EMAIL)
    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()
    return token, items["items"][0]["id"], await harness.api_key()


def refused(response: object, status: int = 422) -> None:
    assert response.status_code == status, (response.request.url, response.text)  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == ("invalid_input" if status == 422 else "not_found")
    if status == 422:
        assert "control characters" in error["message"]


async def test_control_characters_in_paths_are_404(harness: Harness) -> None:
    token, _item_id, key = await signed_in(harness)
    before = await row_counts(harness)
    for bad in BAD_IDS:
        for method, path, headers, body in [
            ("GET", f"/v1/verifications/ver_{bad}", auth(key), None),
            ("POST", f"/v1/verifications/ver_{bad}/check", auth(key), {"code": "123456"}),
            ("POST", f"/v1/verifications/ver_{bad}/cancel", auth(key), None),
            ("POST", f"/v1/me/verifications/ver_{bad}/resend", auth(token), None),
            ("PATCH", f"/v1/me/security-info/inf_{bad}", auth(token), {"label": "x"}),
            ("DELETE", f"/v1/me/security-info/inf_{bad}", auth(token), None),
            (
                "POST",
                f"/v1/me/security-info/inf_{bad}/verify",
                auth(token),
                {"verification_id": "ver_x", "code": "123456"},
            ),
            ("GET", f"/v1/pending-changes/chg_{bad}", {}, None),
            ("POST", f"/v1/recovery/rec_{bad}/send", {}, {"contact_id": "c", "contact": EMAIL}),
            ("GET", f"/v1/accounts/acc_{bad}/billing", auth(key), None),
        ]:
            response = await harness.client.request(method, path, headers=headers, json=body)
            refused(response, 404)
    page = await harness.client.get("/pending-changes/chg_%00")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert await row_counts(harness) == before


async def test_control_characters_in_query_strings_are_422(harness: Harness) -> None:
    token, _, _ = await signed_in(harness)
    for bad in ("%00", "%0D%0A", "%C2%9B", "%E2%80%AE"):
        refused(await harness.client.get(f"/v1/me/activity?before={bad}", headers=auth(token)))
        refused(await harness.client.get(f"/dev/mailbox.json?to={bad}"))
        refused(await harness.client.get(f"/dev/mailbox.json?to=a{bad}@example.com"))
        refused(await harness.client.get(f"/v1/me?x{bad}=1", headers=auth(token)))


@pytest.mark.parametrize("bad", BAD)
async def test_control_characters_in_json_bodies_are_422_and_store_nothing(
    harness: Harness, bad: str
) -> None:
    token, item_id, key = await signed_in(harness)
    before = await row_counts(harness)
    account_id = (await harness.client.get("/v1/me", headers=auth(token))).json()["account_id"]
    attempts = [
        (
            "POST",
            "/v1/accounts",
            {},
            {"sign_in_name": f"new{bad}@example.com", "password": "a long passphrase 1"},
        ),
        (
            "POST",
            "/v1/accounts",
            {},
            {"sign_in_name": "new@example.com", "password": f"a long{bad}passphrase"},
        ),
        ("POST", "/v1/accounts/confirm", {}, {"verification_id": f"ver_{bad}", "code": "123456"}),
        ("POST", "/v1/accounts/resend", {}, {"verification_id": f"ver_{bad}"}),
        ("POST", "/v1/sessions", {}, {"sign_in_name": f"{EMAIL}{bad}", "password": "x"}),
        ("POST", "/v1/me/step-up", auth(token), {"security_info_id": f"inf_{bad}"}),
        (
            "POST",
            "/v1/me/security-info",
            auth(token),
            {"kind": "email", "value": f"a{bad}@example.com"},
        ),
        (
            "POST",
            "/v1/me/security-info",
            auth(token),
            {"kind": "email", "value": "label@example.com", "label": f"work{bad}"},
        ),
        ("PATCH", f"/v1/me/security-info/{item_id}", auth(token), {"label": f"home{bad}"}),
        ("POST", "/v1/recovery", {}, {"sign_in_name": f"{EMAIL}{bad}"}),
        ("POST", "/v1/verifications", auth(key), {"to": f"+1415555{bad}0100", "channel": "sms"}),
        (
            "POST",
            "/v1/verifications",
            auth(key),
            {"to": "+14155550100", "channel": "sms", "locale": f"en{bad}"},
        ),
        ("PUT", f"/v1/accounts/{account_id}/billing", auth(key), {"profile": {"name": f"A{bad}"}}),
        ("PUT", f"/v1/accounts/{account_id}/billing", auth(key), {"profile": {f"k{bad}": "v"}}),
    ]
    for method, path, headers, body in attempts:
        # JSON escapes (``\u0000``, ``\ud800``): a lone surrogate has no UTF-8 form.
        sent = await harness.client.request(
            method,
            path,
            headers=headers | {"content-type": "application/json"},
            content=json.dumps(body),
        )
        refused(sent)
    assert await row_counts(harness) == before
    listed = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()
    assert all(bad not in (item.get("label") or "") for item in listed["items"])


async def test_line_breaks_are_refused_in_labels_but_kept_in_billing_text(harness: Harness) -> None:
    token, item_id, key = await signed_in(harness)
    refused(
        await harness.client.patch(
            f"/v1/me/security-info/{item_id}", json={"label": "two\nlines"}, headers=auth(token)
        )
    )
    account_id = (await harness.client.get("/v1/me", headers=auth(token))).json()["account_id"]
    profile = {"address": "1 Main St\nSpringfield", "note": "tab\there", "emoji": "ok 😀 é"}
    stored = await harness.client.put(
        f"/v1/accounts/{account_id}/billing", json={"profile": profile}, headers=auth(key)
    )
    assert stored.status_code == 200, stored.text
    read = await harness.client.get(f"/v1/accounts/{account_id}/billing", headers=auth(key))
    assert read.json()["profile"] == profile
    ordinary = await harness.client.patch(
        f"/v1/me/security-info/{item_id}", json={"label": "Work — Zürich 📧"}, headers=auth(token)
    )
    assert ordinary.status_code == 200, ordinary.text


async def test_control_characters_in_page_forms_are_refused(harness: Harness) -> None:
    before = await row_counts(harness)
    for path, form in [
        ("/sign-in", {"sign_in_name": f"{EMAIL}\x00", "password": "x"}),
        ("/sign-up", {"sign_in_name": "p\x00@example.com", "password": "a long passphrase 1"}),
        ("/forgot-password", {"sign_in_name": "\u202eevil@example.com"}),
    ]:
        response = await harness.client.post(path, data=form)
        assert response.status_code == 422, (path, response.status_code, response.text[:200])
        assert "text/html" in response.headers["content-type"]
        assert "Check what you typed" in response.text
    assert await row_counts(harness) == before
