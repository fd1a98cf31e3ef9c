"""I didn't get a code, at every code step: a new code, earlier ones still valid, the
cool-down shown; and the same answer where a code must not tell anything."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio

EMAIL = "yara@example.com"
PASSWORD = "a long passphrase 1"


async def test_resend_at_the_sign_in_step(harness: Harness) -> None:
    await harness.sign_up(EMAIL, PASSWORD)
    transport = httpx.ASGITransport(app=harness.client._transport.app, client=("192.0.2.9", 1))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://secinfo.test") as away:
        step = (
            await away.post("/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD})
        ).json()
    assert step["reason"] == "unusual_sign_in"
    base = f"/v1/sessions/challenges/{step['challenge_id']}"
    sent = await harness.client.post(
        f"{base}/send", json={"security_info_id": step["options"][0]["security_info_id"]}
    )
    first_code = await harness.latest_code(EMAIL)
    too_soon = await harness.client.post(
        f"{base}/resend", json={"verification_id": sent.json()["id"]}
    )
    assert too_soon.status_code == 429
    assert too_soon.json()["error"]["code"] == "resend_cooldown"
    harness.clock.advance(seconds=31)
    before = len(await harness.mailbox(EMAIL))
    again = await harness.client.post(f"{base}/resend", json={"verification_id": sent.json()["id"]})
    assert again.status_code == 200, again.text
    assert again.json()["send_attempts"] == 2
    assert len(await harness.mailbox(EMAIL)) == before + 1
    done = await harness.client.post(
        f"{base}/verify", json={"verification_id": sent.json()["id"], "code": first_code}
    )
    assert done.status_code == 201  # the earlier code still works


async def test_resend_in_recovery_answers_the_same_for_a_wrong_contact(harness: Harness) -> None:
    await harness.sign_up(EMAIL, PASSWORD)
    recovery = (await harness.client.post("/v1/recovery", json={"sign_in_name": EMAIL})).json()
    base = f"/v1/recovery/{recovery['recovery_id']}"
    contact_id = recovery["contacts"][0]["contact_id"]
    right = await harness.client.post(
        f"{base}/send", json={"contact_id": contact_id, "contact": EMAIL}
    )
    wrong = await harness.client.post(
        f"{base}/send", json={"contact_id": contact_id, "contact": "yara@example.net"}
    )
    harness.clock.advance(seconds=31)
    before = len(await harness.mailbox(EMAIL))
    answers = [
        await harness.client.post(
            f"{base}/resend", json={"verification_id": sent.json()["verification_id"]}
        )
        for sent in (right, wrong)
    ]
    assert [answer.status_code for answer in answers] == [202, 202]
    assert all(set(answer.json()) == {"verification_id"} for answer in answers)
    assert len(await harness.mailbox(EMAIL)) == before + 1  # only the real contact got one
    assert await harness.mailbox("yara@example.net") == []


async def test_resend_on_a_replacement_and_on_the_cancel_page(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL, PASSWORD)
    started = (
        await harness.client.post(
            "/v1/me/security-info/replace",
            json={"kind": "phone", "value": "+14155550166"},
            headers=auth(token),
        )
    ).json()
    harness.clock.advance(seconds=31)
    resent = await harness.client.post(
        f"/v1/me/verifications/{started['verification']['id']}/resend", headers=auth(token)
    )
    assert resent.status_code == 200
    assert resent.json()["send_attempts"] == 2
    confirmed = await harness.client.post(
        "/v1/me/security-info/replace/confirm",
        json={
            "verification_id": started["verification"]["id"],
            "code": await harness.latest_code("+14155550166"),
        },
        headers=auth(token),
    )
    change = confirmed.json()["pending_change"]
    view = (await harness.client.get(f"/v1/pending-changes/{change['id']}")).json()
    sent = await harness.client.post(
        f"/v1/pending-changes/{change['id']}/cancel/send",
        json={"security_info_id": view["contacts"][0]["security_info_id"]},
    )
    harness.clock.advance(seconds=31)
    again = await harness.client.post(
        f"/v1/pending-changes/{change['id']}/cancel/resend",
        json={"verification_id": sent.json()["id"]},
    )
    assert again.status_code == 200
    canceled = await harness.client.post(
        f"/v1/pending-changes/{change['id']}/cancel",
        json={"verification_id": sent.json()["id"], "code": await harness.latest_code(EMAIL)},
    )
    assert canceled.json()["status"] == "canceled"
