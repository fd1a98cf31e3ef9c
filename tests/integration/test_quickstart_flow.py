"""The README's walk-through as a person goes through it, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio

EMAIL = "alice@example.com"
PHONE = "+14155550189"


async def test_sign_up_verify_sign_in_step_up_add_and_remove_a_phone(harness: Harness) -> None:
    client = harness.client
    started = await client.post(
        "/v1/accounts",
        json={"sign_in_name": "Alice@EXAMPLE.com", "password": "a long passphrase 1"},
    )
    assert started.status_code == 202
    assert started.json()["to"] == "Al*****@example.com"

    # Not usable until the code is typed back.
    early = await client.post(
        "/v1/sessions",
        json={"sign_in_name": "Alice@example.com", "password": "a long passphrase 1"},
    )
    assert early.status_code == 401

    code = await harness.latest_code("Alice@example.com")
    confirmed = await client.post(
        "/v1/accounts/confirm",
        json={"verification_id": started.json()["verification_id"], "code": code},
    )
    assert confirmed.status_code == 201, confirmed.text

    signed_in = await client.post(
        "/v1/sessions",
        json={"sign_in_name": "Alice@example.com", "password": "a long passphrase 1"},
    )
    assert signed_in.status_code == 201
    token = signed_in.json()["token"]
    assert token.startswith("sis_")

    # Adding a phone needs step-up now that the account has active info.
    refused = await client.post(
        "/v1/me/security-info", json={"kind": "phone", "value": PHONE}, headers=auth(token)
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"

    await harness.step_up(token, "Alice@example.com")
    me = (await client.get("/v1/me", headers=auth(token))).json()
    assert me["privileged_until"] is not None

    added = await client.post(
        "/v1/me/security-info",
        json={"kind": "phone", "value": "+1 (415) 555-0189", "label": "My phone"},
        headers=auth(token),
    )
    assert added.status_code == 201, added.text
    item = added.json()["item"]
    assert item == item | {"kind": "phone", "value": "*********89", "state": "pending"}
    assert added.json()["verification"]["to"] == "*********89"

    sms = (await harness.mailbox(PHONE))[0]
    assert sms["channel"] == "sms"
    # As the README shows it: an unencoded "+" (read as a space) and a formatted number
    # find the same text.
    for query in ("to=+14155550189", "to=%2B1%20415%20555%200189", "to=%2B1(415)555-0189"):
        typed = await client.get(f"/dev/mailbox.json?{query}")
        assert typed.json()["messages"][0]["id"] == sms["id"], query
    assert sms["body"].rstrip().endswith(f"@localhost #{await harness.latest_code(PHONE)}")

    verified = await client.post(
        f"/v1/me/security-info/{item['id']}/verify",
        json={
            "verification_id": added.json()["verification"]["id"],
            "code": await harness.latest_code(PHONE),
        },
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["state"] == "active"

    notices = await harness.mailbox("Alice@example.com")
    assert notices[0]["subject"] == "Security info was added to your secinfo account"
    assert "*********89" in notices[0]["body"]

    listed = (await client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    assert [(entry["kind"], entry["state"]) for entry in listed] == [
        ("email", "active"),
        ("phone", "active"),
    ]

    removed = await client.delete(f"/v1/me/security-info/{item['id']}", headers=auth(token))
    assert removed.status_code == 200, removed.text
    assert removed.json()["state"] == "removed"
    listed = (await client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    assert [entry["kind"] for entry in listed] == ["email"]
    # Both the remaining contact and the removed phone are told.
    assert (await harness.mailbox(PHONE))[0]["body"].startswith("secinfo: *********89 was removed")
    assert (await harness.mailbox("Alice@example.com"))[0]["subject"].startswith(
        "Security info was removed"
    )


async def test_step_up_window_ends_after_ten_minutes(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL)
    await harness.step_up(token, EMAIL)
    harness.clock.advance(minutes=9, seconds=59)
    inside = await harness.client.post(
        "/v1/me/security-info", json={"kind": "phone", "value": PHONE}, headers=auth(token)
    )
    assert inside.status_code == 201
    harness.clock.advance(seconds=2)
    outside = await harness.client.post(
        "/v1/me/security-info",
        json={"kind": "email", "value": "other@example.com"},
        headers=auth(token),
    )
    assert outside.status_code == 403
    assert outside.json()["error"]["code"] == "step_up_required"


async def test_actions_that_need_step_up_are_refused_without_it(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL)
    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()
    item_id = items["items"][0]["id"]
    attempts = [
        harness.client.post(
            "/v1/me/security-info", json={"kind": "phone", "value": PHONE}, headers=auth(token)
        ),
        harness.client.delete(f"/v1/me/security-info/{item_id}", headers=auth(token)),
        harness.client.put(
            f"/v1/me/security-info/{item_id}/sign-in", json={"enabled": False}, headers=auth(token)
        ),
        harness.client.post(
            "/v1/me/password",
            json={"current_password": "a long passphrase 1", "new_password": "another long one 2"},
            headers=auth(token),
        ),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "step_up_required"


async def test_sign_out_and_sign_out_everywhere(harness: Harness) -> None:
    first = await harness.sign_up(EMAIL)
    credentials = {"sign_in_name": EMAIL, "password": "a long passphrase 1"}
    second = (await harness.client.post("/v1/sessions", json=credentials)).json()["token"]
    third = (await harness.client.post("/v1/sessions", json=credentials)).json()["token"]

    assert (
        await harness.client.delete("/v1/sessions/current", headers=auth(first))
    ).status_code == 204
    assert (await harness.client.get("/v1/me", headers=auth(first))).status_code == 401
    assert (await harness.client.get("/v1/me", headers=auth(second))).status_code == 200

    revoked = await harness.client.post("/v1/me/sessions/revoke", headers=auth(second))
    assert revoked.json() == {"revoked": 2}
    for token in (second, third):
        assert (await harness.client.get("/v1/me", headers=auth(token))).status_code == 401


async def test_change_password_ends_other_sessions_and_notifies(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL)
    other = (
        await harness.client.post(
            "/v1/sessions", json={"sign_in_name": EMAIL, "password": "a long passphrase 1"}
        )
    ).json()["token"]
    await harness.step_up(token, EMAIL)
    changed = await harness.client.post(
        "/v1/me/password",
        json={"current_password": "a long passphrase 1", "new_password": "a brand new secret 2"},
        headers=auth(token),
    )
    assert changed.status_code == 204, changed.text
    assert (await harness.client.get("/v1/me", headers=auth(other))).status_code == 401
    assert (await harness.client.get("/v1/me", headers=auth(token))).status_code == 200
    old = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": "a long passphrase 1"}
    )
    assert old.status_code == 401
    new = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": "a brand new secret 2"}
    )
    assert new.status_code == 201
    assert (await harness.mailbox(EMAIL))[0]["subject"] == "Your secinfo password was changed"


async def test_sign_in_names_can_be_switched_on_and_off(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL)
    await harness.step_up(token, EMAIL)
    added = (
        await harness.client.post(
            "/v1/me/security-info", json={"kind": "phone", "value": PHONE}, headers=auth(token)
        )
    ).json()
    await harness.client.post(
        f"/v1/me/security-info/{added['item']['id']}/verify",
        json={
            "verification_id": added["verification"]["id"],
            "code": await harness.latest_code(PHONE),
        },
        headers=auth(token),
    )
    email_id = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()[
        "items"
    ][0]["id"]
    last = await harness.client.put(
        f"/v1/me/security-info/{email_id}/sign-in", json={"enabled": False}, headers=auth(token)
    )
    assert last.status_code == 409
    assert last.json()["error"]["code"] == "last_sign_in_name"

    phone_on = await harness.client.put(
        f"/v1/me/security-info/{added['item']['id']}/sign-in",
        json={"enabled": True},
        headers=auth(token),
    )
    assert phone_on.json()["sign_in"] is True
    email_off = await harness.client.put(
        f"/v1/me/security-info/{email_id}/sign-in", json={"enabled": False}, headers=auth(token)
    )
    assert email_off.json()["sign_in"] is False

    by_email = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": "a long passphrase 1"}
    )
    assert by_email.status_code == 401
    by_phone = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": "+1 415 555 0189", "password": "a long passphrase 1"}
    )
    assert by_phone.status_code == 201


async def test_recent_activity_records_what_happened(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL)
    await harness.client.post("/v1/sessions", json={"sign_in_name": EMAIL, "password": "wrong one"})
    page = (await harness.client.get("/v1/me/activity", headers=auth(token))).json()
    types = [event["type"] for event in page["events"]]
    assert types[:1] == ["account:sign_in:failure"]
    assert "account:activated" in types and "account:created" in types
    assert page["events"][0]["ip"] == "203.0.113.7"
    assert page["events"][0]["outcome"] == "wrong_password"
