"""The Verify API as an integrator uses it: start, resend, check, cancel, fetch."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.tables import verifications
from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio

PHONE = "+14155550100"


async def start(harness: Harness, key: str, to: str = PHONE, channel: str = "sms") -> dict:
    response = await harness.client.post(
        "/v1/verifications", json={"to": to, "channel": channel}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_start_and_check_with_the_right_code(harness: Harness) -> None:
    key = await harness.api_key()
    started = await start(harness, key)
    assert started["status"] == "pending"
    assert started["to"] == "*********00"
    assert started["send_attempts"] == 1
    assert set(started) >= {"id", "status", "channel", "to", "expires_at", "send_attempts"}

    code = await harness.latest_code(PHONE)
    # The text names the service, never the phone's own (masked) number.
    sms = (await harness.mailbox(PHONE))[0]["body"]
    assert sms.startswith(f"secinfo: {code} is your verification code. Don't share it.")
    assert "*" not in sms and "0100" not in sms
    fetched = await harness.client.get(f"/v1/verifications/{started['id']}", headers=auth(key))
    assert fetched.json()["delivery_status"] == "sent"

    checked = await harness.client.post(
        f"/v1/verifications/{started['id']}/check", json={"code": code}, headers=auth(key)
    )
    assert checked.json() == {
        "id": started["id"],
        "status": "approved",
        "valid": True,
        "attempts_left": 5,
    }
    # Accepted once: the same code again is refused because the verification ended.
    again = await harness.client.post(
        f"/v1/verifications/{started['id']}/check", json={"code": code}, headers=auth(key)
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "verification_not_pending"


async def test_starting_again_for_the_same_destination_resends_on_the_same_verification(
    harness: Harness,
) -> None:
    key = await harness.api_key()
    first = await start(harness, key)
    first_code = await harness.latest_code(PHONE)

    too_soon = await harness.client.post(
        "/v1/verifications", json={"to": PHONE, "channel": "sms"}, headers=auth(key)
    )
    assert too_soon.status_code == 429
    assert too_soon.json()["error"]["code"] == "resend_cooldown"
    assert 1 <= int(too_soon.headers["Retry-After"]) <= 30

    harness.clock.advance(seconds=31)
    second = await start(harness, key, to="+1 415-555-0100")
    assert second["id"] == first["id"]
    assert second["send_attempts"] == 2
    await harness.latest_code(PHONE)  # the second code arrived too

    # The earlier code stays valid (a late SMS still works).
    checked = await harness.client.post(
        f"/v1/verifications/{first['id']}/check", json={"code": first_code}, headers=auth(key)
    )
    assert checked.json()["valid"] is True


async def test_five_sends_at_most(harness: Harness) -> None:
    key = await harness.api_key()
    for _ in range(5):
        await start(harness, key)
        harness.clock.advance(seconds=31)
    sixth = await harness.client.post(
        "/v1/verifications", json={"to": PHONE, "channel": "sms"}, headers=auth(key)
    )
    assert sixth.status_code == 429
    assert sixth.json()["error"]["code"] == "max_send_attempts_reached"


async def test_five_wrong_codes_end_the_verification_and_a_new_code_does_not_reset(
    harness: Harness,
) -> None:
    key = await harness.api_key()
    started = await start(harness, key)
    code = await harness.latest_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    url = f"/v1/verifications/{started['id']}/check"
    for expected_left in (4, 3):
        response = await harness.client.post(url, json={"code": wrong}, headers=auth(key))
        assert response.json() == {
            "id": started["id"],
            "status": "pending",
            "valid": False,
            "attempts_left": expected_left,
        }
    harness.clock.advance(seconds=31)
    await start(harness, key)  # a resend: the failure count stays
    for expected_left in (2, 1):
        response = await harness.client.post(url, json={"code": wrong}, headers=auth(key))
        assert response.json()["attempts_left"] == expected_left
    last = await harness.client.post(url, json={"code": wrong}, headers=auth(key))
    assert last.json() == {
        "id": started["id"],
        "status": "max_attempts_reached",
        "valid": False,
        "attempts_left": 0,
    }
    right_too_late = await harness.client.post(url, json={"code": code}, headers=auth(key))
    assert right_too_late.status_code == 409
    assert right_too_late.json()["error"]["code"] == "max_attempts_reached"


async def test_a_code_expires_after_ten_minutes(harness: Harness) -> None:
    key = await harness.api_key()
    started = await start(harness, key, to="bob@example.com", channel="email")
    code = await harness.latest_code("bob@example.com")
    harness.clock.advance(minutes=10, seconds=1)
    fetched = await harness.client.get(f"/v1/verifications/{started['id']}", headers=auth(key))
    assert fetched.json()["status"] == "expired"
    checked = await harness.client.post(
        f"/v1/verifications/{started['id']}/check", json={"code": code}, headers=auth(key)
    )
    assert checked.status_code == 409
    assert checked.json()["error"]["code"] == "verification_expired"
    # A new start after expiry is a new verification.
    fresh = await start(harness, key, to="bob@example.com", channel="email")
    assert fresh["id"] != started["id"]


async def test_a_start_after_the_pending_one_ran_out_expires_it_and_starts_anew(
    harness: Harness,
) -> None:
    key = await harness.api_key()
    old = await start(harness, key, to="carol@example.com", channel="email")
    old_code = await harness.latest_code("carol@example.com")
    harness.clock.advance(minutes=10)  # exactly at its expiry: it has run out
    new = await start(harness, key, to="carol@example.com", channel="email")
    assert new["id"] != old["id"] and new["send_attempts"] == 1
    new_code = await harness.latest_code("carol@example.com")
    # The old one was written back as expired (one pending row per destination), not
    # merely reported as expired.
    async with harness.app.engine.connect() as connection:
        rows = dict(
            (
                await connection.execute(
                    sa.select(verifications.c.id, verifications.c.status).where(
                        verifications.c.id.in_([old["id"], new["id"]])
                    )
                )
            ).all()
        )
    assert rows == {old["id"]: "expired", new["id"]: "pending"}
    refused = await harness.client.post(
        f"/v1/verifications/{old['id']}/check", json={"code": old_code}, headers=auth(key)
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "verification_expired"
    checked = await harness.client.post(
        f"/v1/verifications/{new['id']}/check", json={"code": new_code}, headers=auth(key)
    )
    assert checked.json()["valid"] is True


async def test_cancel_then_check_is_refused(harness: Harness) -> None:
    key = await harness.api_key()
    started = await start(harness, key)
    code = await harness.latest_code(PHONE)
    canceled = await harness.client.post(
        f"/v1/verifications/{started['id']}/cancel", headers=auth(key)
    )
    assert canceled.json()["status"] == "canceled"
    checked = await harness.client.post(
        f"/v1/verifications/{started['id']}/check", json={"code": code}, headers=auth(key)
    )
    assert checked.status_code == 409


async def test_another_key_cannot_see_or_check_a_verification(harness: Harness) -> None:
    owner, stranger = await harness.api_key(), await harness.api_key()
    started = await start(harness, owner)
    code = await harness.latest_code(PHONE)
    for response in (
        await harness.client.get(f"/v1/verifications/{started['id']}", headers=auth(stranger)),
        await harness.client.post(
            f"/v1/verifications/{started['id']}/check", json={"code": code}, headers=auth(stranger)
        ),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_no_response_ever_contains_the_code(harness: Harness) -> None:
    key = await harness.api_key()
    bodies = []
    response = await harness.client.post(
        "/v1/verifications", json={"to": PHONE, "channel": "sms"}, headers=auth(key)
    )
    bodies.append(response.text)
    verification_id = response.json()["id"]
    code = await harness.latest_code(PHONE)
    bodies.append(
        (await harness.client.get(f"/v1/verifications/{verification_id}", headers=auth(key))).text
    )
    bodies.append(
        (
            await harness.client.post(
                f"/v1/verifications/{verification_id}/check",
                json={"code": "999999"},
                headers=auth(key),
            )
        ).text
    )
    for body in bodies:
        assert code not in json.dumps(json.loads(body))


async def test_bad_or_revoked_api_keys_are_refused(harness: Harness) -> None:
    from secinfo.services import api_keys

    missing = await harness.client.post("/v1/verifications", json={"to": PHONE, "channel": "sms"})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    created = await api_keys.create(harness.app.deps, "to revoke")
    await api_keys.revoke(harness.app.deps, created.api_key.id)
    revoked = await harness.client.post(
        "/v1/verifications", json={"to": PHONE, "channel": "sms"}, headers=auth(created.key)
    )
    assert revoked.status_code == 401
