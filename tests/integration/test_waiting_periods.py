"""Waiting periods over HTTP on SQLite and PostgreSQL, with the clock moved through the 30 days."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from secinfo.bootstrap import build
from secinfo.domain.dates import format_moment
from secinfo.scheduler import run_jobs_once
from secinfo.services import pending_changes
from tests.conftest import Harness, auth, make_settings

pytestmark = pytest.mark.anyio

EMAIL = "olga@example.com"
PHONE = "+14155550123"
PASSWORD = "a long passphrase 1"


async def account_with_phone(harness: Harness) -> str:
    token = await harness.sign_up(EMAIL, PASSWORD)
    await harness.step_up(token, EMAIL)
    added = (
        await harness.client.post(
            "/v1/me/security-info", json={"kind": "phone", "value": PHONE}, headers=auth(token)
        )
    ).json()
    verified = await harness.client.post(
        f"/v1/me/security-info/{added['item']['id']}/verify",
        json={
            "verification_id": added["verification"]["id"],
            "code": await harness.latest_code(PHONE),
        },
        headers=auth(token),
    )
    assert verified.status_code == 200
    return token


async def sign_in(harness: Harness) -> str:
    response = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def subjects(messages: list[dict]) -> list[str]:
    return [message["subject"] for message in messages]


async def test_remove_all_waits_30_days_with_a_freeze_reminders_and_a_final_notice(
    harness: Harness,
) -> None:
    token = await account_with_phone(harness)
    started = await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    assert started.status_code == 202, started.text
    change = started.json()
    assert change["kind"] == "remove_all"
    assert change["status"] == "pending"

    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    assert {item["state"] for item in items} == {"removal_pending"}
    email_notice = (await harness.mailbox(EMAIL))[0]
    assert email_notice["subject"].startswith("A request to remove")
    assert f"/pending-changes/{change['id']}" in email_notice["body"]
    assert "wasn't you" in email_notice["body"]
    assert (await harness.mailbox(PHONE))[0]["body"].startswith("secinfo: a request to change")

    # The freeze: every other security change is refused with the date it ends.
    await harness.step_up(token, EMAIL)
    frozen = [
        await harness.client.post(
            "/v1/me/security-info",
            json={"kind": "email", "value": "x@example.com"},
            headers=auth(token),
        ),
        await harness.client.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "another fine passphrase"},
            headers=auth(token),
        ),
        await harness.client.put("/v1/me/two-step", json={"enabled": True}, headers=auth(token)),
        await harness.client.put(
            f"/v1/me/security-info/{items[1]['id']}/sign-in",
            json={"enabled": True},
            headers=auth(token),
        ),
    ]
    key = await harness.api_key()
    me = (await harness.client.get("/v1/me", headers=auth(token))).json()
    frozen.append(
        await harness.client.put(
            f"/v1/accounts/{me['account_id']}/billing",
            json={"profile": {"plan": "pro"}},
            headers=auth(key),
        )
    )
    for response in frozen:
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "security_info_change_pending"
        assert error["ends_at"].startswith(change["ends_at"][:16])
        ends_at = datetime.fromisoformat(error["ends_at"].replace("Z", "+00:00"))
        assert format_moment(ends_at) in error["message"]  # one date format everywhere
    # Everything else works: the account is open and usable.
    assert (await harness.client.get("/v1/me/activity", headers=auth(token))).status_code == 200
    assert (
        await harness.client.post(
            "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
        )
    ).status_code == 201

    for day in (7, 14, 21, 28):
        harness.clock.advance(days=7)
        await run_jobs_once(harness.app.deps)
        await run_jobs_once(harness.app.deps)  # a second run sends nothing more
        reminders = [s for s in subjects(await harness.mailbox(EMAIL)) if s.startswith("Reminder")]
        assert len(reminders) == day // 7
    harness.clock.advance(days=1, hours=23)  # day 29 23h: not yet
    assert (await run_jobs_once(harness.app.deps))["pending_changes_completed"] == 0
    harness.clock.advance(hours=1, minutes=1)
    assert (await run_jobs_once(harness.app.deps))["pending_changes_completed"] == 1
    assert (await run_jobs_once(harness.app.deps))["pending_changes_completed"] == 0

    final = (await harness.mailbox(EMAIL))[0]
    assert "it's time to enter new security info" in final["subject"]
    assert "It's time to enter new security info" in (await harness.mailbox(PHONE))[0]["body"]
    # The sign-in name still signs in, and sign-in asks for new security info at once.
    signed_in = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
    )
    assert signed_in.status_code == 202, signed_in.text
    step = signed_in.json()
    assert step["reason"] == "reconfirm_security_info"
    assert step["options"] == []
    sent = await harness.client.post(
        f"/v1/sessions/challenges/{step['challenge_id']}/add",
        json={"kind": "phone", "value": "+14155550199"},
    )
    assert sent.status_code == 201, sent.text
    session = await harness.client.post(
        f"/v1/sessions/challenges/{step['challenge_id']}/verify",
        json={
            "verification_id": sent.json()["id"],
            "code": await harness.latest_code("+14155550199"),
        },
    )
    assert session.status_code == 201, session.text
    fresh = session.json()["token"]
    items = (await harness.client.get("/v1/me/security-info", headers=auth(fresh))).json()["items"]
    assert [(item["kind"], item["state"]) for item in items] == [("phone", "active")]
    assert (
        await harness.client.get("/v1/me/pending-change", headers=auth(fresh))
    ).status_code == 409


async def test_cancel_in_the_middle_with_a_code_to_an_old_contact(harness: Harness) -> None:
    token = await account_with_phone(harness)
    change = (
        await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    ).json()
    harness.clock.advance(days=12)
    view = (await harness.client.get(f"/v1/pending-changes/{change['id']}")).json()
    assert {contact["to"] for contact in view["contacts"]} == {"ol*****@example.com", "*********23"}
    phone = next(contact for contact in view["contacts"] if contact["channel"] == "sms")
    sent = await harness.client.post(
        f"/v1/pending-changes/{change['id']}/cancel/send",
        json={"security_info_id": phone["security_info_id"]},
    )
    assert sent.status_code == 201
    canceled = await harness.client.post(
        f"/v1/pending-changes/{change['id']}/cancel",
        json={"verification_id": sent.json()["id"], "code": await harness.latest_code(PHONE)},
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    assert {item["state"] for item in items} == {"active"}
    assert (await harness.mailbox(EMAIL))[0]["subject"].endswith("was canceled")
    harness.clock.advance(days=20)
    assert (await run_jobs_once(harness.app.deps))["pending_changes_completed"] == 0
    # Settings are no longer frozen.
    token = await sign_in(harness)
    await harness.step_up(token, EMAIL)
    label = await harness.client.patch(
        f"/v1/me/security-info/{items[1]['id']}", json={"label": "phone"}, headers=auth(token)
    )
    assert label.status_code == 200


async def test_this_was_not_me_cancels_and_secures_the_account(harness: Harness) -> None:
    token = await account_with_phone(harness)
    change = (
        await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    ).json()
    view = (await harness.client.get(f"/v1/pending-changes/{change['id']}")).json()
    sent = await harness.client.post(
        f"/v1/pending-changes/{change['id']}/cancel/send",
        json={"security_info_id": view["contacts"][0]["security_info_id"]},
    )
    canceled = await harness.client.post(
        f"/v1/pending-changes/{change['id']}/cancel",
        json={
            "verification_id": sent.json()["id"],
            "code": await harness.latest_code(EMAIL),
            "not_me": True,
        },
    )
    assert canceled.status_code == 200
    assert (await harness.client.get("/v1/me", headers=auth(token))).status_code == 401
    again = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
    )
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "password_reset_required"


async def test_i_dont_have_any_of_these_replaces_after_30_days(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL, PASSWORD)  # no step-up: the email is unreachable
    started = await harness.client.post(
        "/v1/me/security-info/replace",
        json={"kind": "phone", "value": "+1 415 555 0177", "label": "new phone"},
        headers=auth(token),
    )
    assert started.status_code == 201, started.text
    assert started.json()["verification"]["to"] == "*********77"
    confirmed = await harness.client.post(
        "/v1/me/security-info/replace/confirm",
        json={
            "verification_id": started.json()["verification"]["id"],
            "code": await harness.latest_code("+14155550177"),
        },
        headers=auth(token),
    )
    assert confirmed.status_code == 202, confirmed.text
    change = confirmed.json()["pending_change"]
    assert change["kind"] == "replace_info"
    # The old contact is warned, the new one is not active yet.
    assert (await harness.mailbox(EMAIL))[0]["subject"].startswith("A request to replace")
    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    assert [(item["kind"], item["state"]) for item in items] == [
        ("email", "removal_pending"),
        ("phone", "pending"),
    ]
    harness.clock.advance(days=29, hours=23)
    assert (await run_jobs_once(harness.app.deps))["pending_changes_completed"] == 0
    token = await sign_in(harness)  # sessions last 30 days; keep one fresh
    harness.clock.advance(hours=1, minutes=1)
    assert (await run_jobs_once(harness.app.deps))["pending_changes_completed"] == 1
    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    assert [(item["kind"], item["state"], item["value"]) for item in items] == [
        ("phone", "active", "*********77")
    ]
    assert "time to enter new security info" in (await harness.mailbox(EMAIL))[0]["subject"]


async def test_two_workers_complete_each_due_change_exactly_once(
    harness: Harness, database_url: str, tmp_path: Path
) -> None:
    tokens = [await harness.sign_up(f"user{n}@example.com", PASSWORD) for n in range(6)]
    for n, token in enumerate(tokens):
        await harness.step_up(token, f"user{n}@example.com")
        response = await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
        assert response.status_code == 202
    await harness.deliver()
    harness.clock.advance(days=31)
    other = build(make_settings(database_url, tmp_path / "second"), clock=harness.clock)
    try:
        results = await asyncio.gather(
            pending_changes.complete_due(harness.app.deps),
            pending_changes.complete_due(other.deps),
            pending_changes.complete_due(harness.app.deps),
        )
    finally:
        await other.close()
    assert sum(results) == 6
    for n in range(6):
        ended = [
            message
            for message in await harness.mailbox(f"user{n}@example.com")
            if "time to enter new security info" in message["subject"]
        ]
        assert len(ended) == 1


async def test_a_password_reset_while_a_replacement_waits_needs_an_old_contact(
    harness: Harness,
) -> None:
    """Recovery stays open during a waiting period (the holder locked out of the password
    must be able to get in and cancel), but only the old contacts prove it: the contact
    registered by "I don't have any of these" counts only once the period has ended.
    The change keeps waiting; a signed-in password change stays frozen."""
    token = await harness.sign_up(EMAIL, PASSWORD)
    started = await harness.client.post(
        "/v1/me/security-info/replace",
        json={"kind": "phone", "value": "+1 415 555 0177"},
        headers=auth(token),
    )
    await harness.client.post(
        "/v1/me/security-info/replace/confirm",
        json={
            "verification_id": started.json()["verification"]["id"],
            "code": await harness.latest_code("+14155550177"),
        },
        headers=auth(token),
    )
    change = (await harness.client.get("/v1/me/pending-change", headers=auth(token))).json()
    assert change["status"] == "pending"

    recovery = (await harness.client.post("/v1/recovery", json={"sign_in_name": EMAIL})).json()
    assert [contact["channel"] for contact in recovery["contacts"]] == ["email"]
    base = f"/v1/recovery/{recovery['recovery_id']}"
    sent = await harness.client.post(
        f"{base}/send",
        json={"contact_id": recovery["contacts"][0]["contact_id"], "contact": EMAIL},
    )
    verified = await harness.client.post(
        f"{base}/verify",
        json={
            "verification_id": sent.json()["verification_id"],
            "code": await harness.latest_code(EMAIL),
        },
    )
    assert verified.json() == {"proofs_left": 0}
    reset = await harness.client.post(f"{base}/reset", json={"new_password": "a new passphrase 2"})
    assert reset.status_code == 204, reset.text

    signed_in = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": "a new passphrase 2"}
    )
    assert signed_in.status_code == 201, signed_in.text
    fresh = signed_in.json()["token"]
    still = (await harness.client.get("/v1/me/pending-change", headers=auth(fresh))).json()
    assert still["id"] == change["id"] and still["status"] == "pending"
    await harness.step_up(fresh, EMAIL)
    frozen = await harness.client.post(
        "/v1/me/password",
        json={"current_password": "a new passphrase 2", "new_password": "a third passphrase 3"},
        headers=auth(fresh),
    )
    assert frozen.status_code == 409
    assert frozen.json()["error"]["code"] == "security_info_change_pending"
