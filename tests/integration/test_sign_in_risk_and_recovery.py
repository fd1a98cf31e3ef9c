"""Sign-in checks and recovery over HTTP: when sign-in asks for a code, the reconfirm prompt, recovery."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio

EMAIL = "petra@example.com"
PHONE = "+14155550144"
PASSWORD = "a long passphrase 1"
CREDENTIALS = {"sign_in_name": EMAIL, "password": PASSWORD}


async def confirm_sign_up(harness: Harness, ip: str) -> str:
    """Sign up from ``ip``; return the device token the confirmation hands out."""
    client = with_ip(harness, ip)
    async with client:
        started = await client.post("/v1/accounts", json=CREDENTIALS)
        confirmed = await client.post(
            "/v1/accounts/confirm",
            json={
                "verification_id": started.json()["verification_id"],
                "code": await harness.latest_code(EMAIL),
            },
        )
    assert confirmed.status_code == 201
    device: str = confirmed.json()["device_token"]
    assert device.startswith("sid_")
    return device


def with_ip(harness: Harness, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=harness.client._transport.app, client=(ip, 40000))  # type: ignore[attr-defined]
    return httpx.AsyncClient(transport=transport, base_url="http://secinfo.test")


async def sign_in_from(harness: Harness, ip: str, device: str | None = None) -> httpx.Response:
    headers = {"X-Device-Token": device} if device else {}
    async with with_ip(harness, ip) as client:
        return await client.post("/v1/sessions", json=CREDENTIALS, headers=headers)


async def finish_challenge(harness: Harness, step: dict, to: str = EMAIL) -> httpx.Response:
    option = next(o for o in step["options"] if o["channel"] == ("email" if "@" in to else "sms"))
    sent = await harness.client.post(
        f"/v1/sessions/challenges/{step['challenge_id']}/send",
        json={"security_info_id": option["security_info_id"]},
    )
    assert sent.status_code == 201, sent.text
    return await harness.client.post(
        f"/v1/sessions/challenges/{step['challenge_id']}/verify",
        json={"verification_id": sent.json()["id"], "code": await harness.latest_code(to)},
    )


async def test_unusual_sign_in_is_challenged_while_a_known_device_is_not(harness: Harness) -> None:
    device = await confirm_sign_up(harness, "198.51.100.20")

    known_device_elsewhere = await sign_in_from(harness, "192.0.2.99", device)
    assert known_device_elsewhere.status_code == 201
    new_device_same_network = await sign_in_from(harness, "198.51.100.77")
    assert new_device_same_network.status_code == 201

    unusual = await sign_in_from(harness, "203.0.113.50")
    assert unusual.status_code == 202, unusual.text
    step = unusual.json()
    assert step["reason"] == "unusual_sign_in"
    assert [option["to"] for option in step["options"]] == ["pe*****@example.com"]
    assert "token" not in step
    notice = (await harness.mailbox(EMAIL))[0]
    assert notice["subject"].startswith("Unusual sign-in")
    assert "203.0.113.50" in notice["body"]

    wrong = await harness.client.post(
        f"/v1/sessions/challenges/{step['challenge_id']}/verify",
        json={"verification_id": "ver_nope", "code": "000000"},
    )
    assert wrong.status_code == 404
    finished = await finish_challenge(harness, step)
    assert finished.status_code == 201, finished.text
    assert finished.json()["token"].startswith("sis_")
    # Once through, the challenge cannot be replayed.
    replay = await harness.client.post(
        f"/v1/sessions/challenges/{step['challenge_id']}/send",
        json={"security_info_id": step["options"][0]["security_info_id"]},
    )
    assert replay.status_code == 404
    events = (
        await harness.client.get("/v1/me/activity", headers=auth(finished.json()["token"]))
    ).json()["events"]
    assert any(
        e["type"] == "account:sign_in:challenged" and e["ip"] == "203.0.113.50" for e in events
    )


async def test_many_recent_failures_and_long_inactivity_need_a_code(harness: Harness) -> None:
    device = await confirm_sign_up(harness, "198.51.100.20")
    for _ in range(5):
        await harness.client.post(
            "/v1/sessions", json={"sign_in_name": EMAIL, "password": "nope nope 1"}
        )
    after_failures = await sign_in_from(harness, "198.51.100.20", device)
    assert after_failures.status_code == 202
    assert after_failures.json()["reason"] == "recent_failures"

    harness.clock.advance(days=91)
    inactive = await sign_in_from(harness, "198.51.100.20", device)
    assert inactive.status_code == 202
    assert inactive.json()["reason"] == "long_inactivity"
    assert (await finish_challenge(harness, inactive.json())).status_code == 201
    assert (await sign_in_from(harness, "198.51.100.20", device)).status_code == 201


async def test_two_step_verification_asks_every_time(harness: Harness) -> None:
    device = await confirm_sign_up(harness, "198.51.100.20")
    token = (await sign_in_from(harness, "198.51.100.20", device)).json()["token"]
    await harness.step_up(token, EMAIL)
    refused = await harness.client.put(
        "/v1/me/two-step", json={"enabled": True}, headers=auth(token)
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "two_step_needs_two_kinds"
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
    enabled = await harness.client.put(
        "/v1/me/two-step", json={"enabled": True}, headers=auth(token)
    )
    assert enabled.json() == {"enabled": True}
    assert (await harness.mailbox(PHONE))[0]["body"].startswith(
        "secinfo: 2-step verification was turned on"
    )
    for _ in range(2):
        response = await sign_in_from(harness, "198.51.100.20", device)
        assert response.status_code == 202
        assert response.json()["reason"] == "two_step"
    assert (await finish_challenge(harness, response.json(), PHONE)).status_code == 201


async def test_reconfirm_prompt_skip_and_enforcement(harness: Harness) -> None:
    device = await confirm_sign_up(harness, "198.51.100.20")
    # Sign in every 60 days so inactivity never triggers; the info ages past a year.
    for _ in range(7):
        harness.clock.advance(days=60)
        response = await sign_in_from(harness, "198.51.100.20", device)
        if response.status_code == 202:
            break
        assert response.status_code == 201
    step = response.json()
    assert step["reason"] == "reconfirm_security_info"
    assert step["skippable"] is True
    enforced_from = step["enforced_from"]
    skipped = await harness.client.post(f"/v1/sessions/challenges/{step['challenge_id']}/skip")
    assert skipped.status_code == 201
    # Within 24 hours: no prompt.
    harness.clock.advance(hours=23)
    assert (await sign_in_from(harness, "198.51.100.20", device)).status_code == 201
    # A day later: asked again, skipped again.
    harness.clock.advance(hours=2)
    again = await sign_in_from(harness, "198.51.100.20", device)
    assert again.status_code == 202
    assert again.json()["enforced_from"] == enforced_from
    assert (
        await harness.client.post(f"/v1/sessions/challenges/{again.json()['challenge_id']}/skip")
    ).status_code == 201
    # Day 7 after the first prompt: no more skipping.
    harness.clock.advance(days=6)
    enforced = await sign_in_from(harness, "198.51.100.20", device)
    assert enforced.status_code == 202
    assert enforced.json()["skippable"] is False
    refused = await harness.client.post(
        f"/v1/sessions/challenges/{enforced.json()['challenge_id']}/skip"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reconfirm_required"
    assert (await finish_challenge(harness, enforced.json())).status_code == 201
    # Verifying reset the clock.
    harness.clock.advance(days=30)
    assert (await sign_in_from(harness, "198.51.100.20", device)).status_code == 201


async def test_recovery_answers_the_same_for_real_and_unknown_accounts(harness: Harness) -> None:
    await confirm_sign_up(harness, "198.51.100.20")
    real = await harness.client.post("/v1/recovery", json={"sign_in_name": EMAIL})
    unknown = await harness.client.post("/v1/recovery", json={"sign_in_name": "petra@example.org"})
    assert real.status_code == unknown.status_code == 202
    assert set(real.json()) == set(unknown.json())
    assert real.json()["contacts"][0]["to"] == "pe*****@example.com"
    assert unknown.json()["contacts"][0]["to"] == "pe*****@example.org"
    # Same decoys when asked again.
    unknown_again = await harness.client.post(
        "/v1/recovery", json={"sign_in_name": "petra@example.org"}
    )
    assert [c["to"] for c in unknown_again.json()["contacts"]] == [
        c["to"] for c in unknown.json()["contacts"]
    ]
    # Typing a contact back answers the same whether it matches, is wrong, or is a decoy.
    answers = []
    for recovery, typed in (
        (real, EMAIL),
        (real, "petra@example.net"),
        (unknown, "petra@example.org"),
    ):
        answer = await harness.client.post(
            f"/v1/recovery/{recovery.json()['recovery_id']}/send",
            json={"contact_id": recovery.json()["contacts"][0]["contact_id"], "contact": typed},
        )
        answers.append(answer)
    assert {a.status_code for a in answers} == {202}
    assert all(set(a.json()) == {"verification_id"} for a in answers)
    assert len(await harness.mailbox("petra@example.org")) == 0
    assert len(await harness.mailbox("petra@example.net")) == 0

    # Timing: see test_enumeration_timing.


async def test_recovery_resets_the_password_and_two_step_needs_two_proofs(harness: Harness) -> None:
    device = await confirm_sign_up(harness, "198.51.100.20")
    token = (await sign_in_from(harness, "198.51.100.20", device)).json()["token"]
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
    await harness.client.put("/v1/me/two-step", json={"enabled": True}, headers=auth(token))

    recovery = (await harness.client.post("/v1/recovery", json={"sign_in_name": EMAIL})).json()
    contacts = {contact["channel"]: contact for contact in recovery["contacts"]}
    base = f"/v1/recovery/{recovery['recovery_id']}"

    async def prove(channel: str, typed: str) -> dict:
        sent = await harness.client.post(
            f"{base}/send", json={"contact_id": contacts[channel]["contact_id"], "contact": typed}
        )
        verified = await harness.client.post(
            f"{base}/verify",
            json={
                "verification_id": sent.json()["verification_id"],
                "code": await harness.latest_code(typed),
            },
        )
        assert verified.status_code == 200, verified.text
        return dict(verified.json())

    assert await prove("email", EMAIL) == {"proofs_left": 1}
    too_early = await harness.client.post(
        f"{base}/reset", json={"new_password": "a new passphrase 2"}
    )
    assert too_early.status_code == 403
    assert too_early.json()["error"]["code"] == "recovery_proof_missing"
    assert await prove("sms", PHONE) == {"proofs_left": 0}
    reset = await harness.client.post(f"{base}/reset", json={"new_password": "a new passphrase 2"})
    assert reset.status_code == 204, reset.text

    assert (await harness.client.get("/v1/me", headers=auth(token))).status_code == 401
    assert (await harness.mailbox(PHONE))[0]["body"].startswith("secinfo: the password of")
    assert (await harness.mailbox(EMAIL))[0]["subject"] == "Your secinfo password was reset"
    old = await harness.client.post("/v1/sessions", json=CREDENTIALS)
    assert old.status_code == 401
    again = await harness.client.post(f"{base}/reset", json={"new_password": "yet another one 3"})
    assert again.status_code == 404
