"""Passkeys over HTTP on SQLite and PostgreSQL, with a software authenticator written in
the tests (ES256, attestation none, authenticator and client data built per spec).

Registration from a signed-in, stepped-up session; sign-in with no name and no password;
step-up; and each way an answer can be wrong, refused with its own error code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Harness, auth
from tests.webauthn_authenticator import SoftAuthenticator, from_b64url

pytestmark = pytest.mark.anyio

EMAIL = "katherine@example.com"
PASSWORD = "a long passphrase 1"
ORIGIN = "http://localhost:8000"  # the tests' settings: web domain localhost, port 8000


async def signed_up_and_stepped_up(harness: Harness, email: str = EMAIL) -> str:
    token = await harness.sign_up(email, PASSWORD)
    await harness.step_up(token, email)
    return token


async def register(
    harness: Harness, token: str, device: SoftAuthenticator, label: str | None = "Laptop"
) -> dict[str, Any]:
    options = await harness.client.post("/v1/me/passkeys/registration/options", headers=auth(token))
    assert options.status_code == 200, options.text
    body = options.json()
    created = await harness.client.post(
        "/v1/me/passkeys/registration",
        json={
            "registration_id": body["registration_id"],
            "credential": device.create(body["options"]),
            "label": label,
        },
        headers=auth(token),
    )
    assert created.status_code == 201, created.text
    item: dict[str, Any] = created.json()
    return item


async def sign_in_options(harness: Harness) -> dict[str, Any]:
    response = await harness.client.post("/v1/sessions/passkey/options")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def answer_sign_in(harness: Harness, options: dict[str, Any], credential: Any) -> Any:
    return await harness.client.post(
        "/v1/sessions/passkey",
        json={"authentication_id": options["authentication_id"], "credential": credential},
    )


async def texts_to(harness: Harness, to: str) -> list[str]:
    return [message["body"] for message in await harness.mailbox(to)]


async def test_register_sign_in_and_step_up_with_a_passkey(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    options = await harness.client.post("/v1/me/passkeys/registration/options", headers=auth(token))
    assert options.status_code == 200, options.text
    creation = options.json()["options"]
    assert creation["rp"] == {"id": "localhost", "name": "secinfo"}
    assert creation["authenticatorSelection"]["residentKey"] == "required"
    assert creation["authenticatorSelection"]["userVerification"] == "required"
    assert creation["attestation"] == "none"
    assert [p["alg"] for p in creation["pubKeyCredParams"]] == [-7, -8, -257]
    assert creation["excludeCredentials"] == []
    assert len(from_b64url(creation["challenge"])) >= 32
    assert creation["timeout"] == 300_000
    # The user handle is random: not the account id, not the sign-in name.
    handle = from_b64url(creation["user"]["id"])
    account_id = (await harness.client.get("/v1/me", headers=auth(token))).json()["account_id"]
    assert len(handle) == 32 and account_id.encode() not in handle and b"katherine" not in handle

    device = SoftAuthenticator(ORIGIN)
    created = await harness.client.post(
        "/v1/me/passkeys/registration",
        json={
            "registration_id": options.json()["registration_id"],
            "credential": device.create(creation),
            "label": "Work laptop",
        },
        headers=auth(token),
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["kind"] == "passkey" and item["state"] == "active"
    assert item["label"] == "Work laptop"
    assert item["authenticator_name"] == "Google Password Manager"
    assert (
        "A passkey was added to your account: Work laptop." in (await texts_to(harness, EMAIL))[0]
    )

    again = await harness.client.post("/v1/me/passkeys/registration/options", headers=auth(token))
    excluded = [entry["id"] for entry in again.json()["options"]["excludeCredentials"]]
    assert len(excluded) == 1
    assert from_b64url(excluded[0]) in device.credentials
    # The same user handle for every passkey of the account.
    assert again.json()["options"]["user"]["id"] == creation["user"]["id"]

    # Sign in: no name, no password.
    request = await sign_in_options(harness)
    assert request["options"]["allowCredentials"] == []
    assert request["options"]["userVerification"] == "required"
    assert request["options"]["rpId"] == "localhost"
    signed_in = await answer_sign_in(harness, request, device.get(request["options"]))
    assert signed_in.status_code == 201, signed_in.text
    new_token = signed_in.json()["token"]
    listed = await harness.client.get("/v1/me/security-info", headers=auth(new_token))
    passkey = next(entry for entry in listed.json()["items"] if entry["kind"] == "passkey")
    assert passkey["last_used_at"] is not None

    # Step up with it: the session was not privileged, now it is.
    refused = await harness.client.post(
        "/v1/me/passkeys/registration/options", headers=auth(new_token)
    )
    assert refused.json()["error"]["code"] == "step_up_required"
    step = await harness.client.post("/v1/me/step-up/passkey/options", headers=auth(new_token))
    assert step.status_code == 200, step.text
    assert [entry["id"] for entry in step.json()["options"]["allowCredentials"]] == excluded
    stepped = await harness.client.post(
        "/v1/me/step-up/passkey",
        json={
            "authentication_id": step.json()["authentication_id"],
            "credential": device.get(step.json()["options"]),
        },
        headers=auth(new_token),
    )
    assert stepped.status_code == 201, stepped.text
    assert stepped.json()["privileged_until"]
    activity = await harness.client.get("/v1/me/activity", headers=auth(new_token))
    step_event = next(
        event for event in activity.json()["events"] if event["type"] == "account:step_up:success"
    )
    assert step_event["details"]["label"] == "Work laptop"

    # Remove it (the session is privileged now); the contacts are told.
    removed = await harness.client.delete(
        f"/v1/me/security-info/{passkey['id']}", headers=auth(new_token)
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["state"] == "removed"
    assert (
        "A passkey was removed from your account: Work laptop."
        in (await texts_to(harness, EMAIL))[0]
    )
    gone = await sign_in_options(harness)
    unknown = await answer_sign_in(harness, gone, device.get(gone["options"]))
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "passkey_unknown"


async def test_adding_a_passkey_needs_a_step_up_like_any_other_add(harness: Harness) -> None:
    token = await harness.sign_up(EMAIL, PASSWORD)
    refused = await harness.client.post("/v1/me/passkeys/registration/options", headers=auth(token))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"


async def test_a_passkey_sign_in_needs_no_code_with_two_step_on(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    device = SoftAuthenticator(ORIGIN)
    await register(harness, token, device)
    await register(harness, token, SoftAuthenticator(ORIGIN), "Second")  # two kinds for 2-step
    turned_on = await harness.client.put(
        "/v1/me/two-step", json={"enabled": True}, headers=auth(token)
    )
    assert turned_on.status_code == 200, turned_on.text
    by_password = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
    )
    assert by_password.status_code == 202  # a code (or a passkey) first
    request = await sign_in_options(harness)
    signed_in = await answer_sign_in(harness, request, device.get(request["options"]))
    assert signed_in.status_code == 201, signed_in.text


async def test_registration_from_another_site_is_refused(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    device = SoftAuthenticator(ORIGIN)
    for wrong, code in (
        ({"origin": "https://evil.example"}, "passkey_origin_mismatch"),
        ({"rp_id": "evil.example"}, "passkey_rp_id_mismatch"),
        ({"user_verified": False}, "passkey_user_not_verified"),
    ):
        options = (
            await harness.client.post("/v1/me/passkeys/registration/options", headers=auth(token))
        ).json()
        refused = await harness.client.post(
            "/v1/me/passkeys/registration",
            json={
                "registration_id": options["registration_id"],
                "credential": device.create(options["options"], **wrong),
                "label": None,
            },
            headers=auth(token),
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == code
    listed = await harness.client.get("/v1/me/security-info", headers=auth(token))
    assert all(item["kind"] != "passkey" for item in listed.json()["items"])


async def test_each_wrong_sign_in_answer_has_its_own_code(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    device = SoftAuthenticator(ORIGIN)
    await register(harness, token, device)

    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"origin": "https://evil.example"}, 400, "passkey_origin_mismatch"),
        ({"rp_id": "evil.example"}, 400, "passkey_rp_id_mismatch"),
        ({"tamper": True}, 400, "passkey_signature_invalid"),
        ({"user_verified": False}, 400, "passkey_user_not_verified"),
        ({"challenge": "A" * 43}, 400, "passkey_challenge_mismatch"),
    ]
    for wrong, status, code in cases:
        request = await sign_in_options(harness)
        refused = await answer_sign_in(harness, request, device.get(request["options"], **wrong))
        assert refused.status_code == status, (wrong, refused.text)
        assert refused.json()["error"]["code"] == code, wrong

    # A stranger's passkey for this site: no account holds it.
    stranger = SoftAuthenticator(ORIGIN)
    stranger_options = (
        await harness.client.post("/v1/me/passkeys/registration/options", headers=auth(token))
    ).json()
    stranger.create(stranger_options["options"])  # made, never sent to the server
    request = await sign_in_options(harness)
    unknown = await answer_sign_in(harness, request, stranger.get(request["options"]))
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "passkey_unknown"

    # A reused challenge: the options are good for one answer.
    request = await sign_in_options(harness)
    first = await answer_sign_in(harness, request, device.get(request["options"]))
    assert first.status_code == 201, first.text
    replay = await answer_sign_in(harness, request, device.get(request["options"]))
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "passkey_challenge_used"
    # …and a wrong first answer uses them up too.
    request = await sign_in_options(harness)
    await answer_sign_in(harness, request, device.get(request["options"], tamper=True))
    after = await answer_sign_in(harness, request, device.get(request["options"]))
    assert after.json()["error"]["code"] == "passkey_challenge_used"

    # Expired options (5 minutes).
    request = await sign_in_options(harness)
    harness.clock.advance(timedelta(minutes=5, seconds=1))
    late = await answer_sign_in(harness, request, device.get(request["options"]))
    assert late.status_code == 400 and late.json()["error"]["code"] == "passkey_options_expired"
    unknown_id = await answer_sign_in(
        harness, {"authentication_id": "pkc_nope"}, device.get(request["options"])
    )
    assert unknown_id.json()["error"]["code"] == "passkey_options_expired"

    # Still signs in after all of these.
    request = await sign_in_options(harness)
    fine = await answer_sign_in(harness, request, device.get(request["options"]))
    assert fine.status_code == 201, fine.text


async def test_a_counter_regression_sets_the_passkey_aside_and_tells_the_contacts(
    harness: Harness,
) -> None:
    token = await signed_up_and_stepped_up(harness)
    device = SoftAuthenticator(ORIGIN)
    item = await register(harness, token, device, "Old phone")
    request = await sign_in_options(harness)
    assert (
        await answer_sign_in(harness, request, device.get(request["options"]))
    ).status_code == 201
    request = await sign_in_options(harness)
    at_five = await answer_sign_in(harness, request, device.get(request["options"], sign_count=5))
    assert at_five.status_code == 201, at_five.text

    request = await sign_in_options(harness)
    cloned = await answer_sign_in(harness, request, device.get(request["options"], sign_count=3))
    assert cloned.status_code == 403, cloned.text
    assert cloned.json()["error"]["code"] == "passkey_counter_regressed"
    listed = await harness.client.get("/v1/me/security-info", headers=auth(token))
    state = next(entry["state"] for entry in listed.json()["items"] if entry["id"] == item["id"])
    assert state == "suspect"
    assert (
        'Your passkey "Old phone" was just used with a signature counter'
        in (await texts_to(harness, EMAIL))[0]
    )

    # Even a higher counter no longer works: it must be removed and registered again.
    request = await sign_in_options(harness)
    later = await answer_sign_in(harness, request, device.get(request["options"], sign_count=9))
    assert later.status_code == 403 and later.json()["error"]["code"] == "passkey_suspect"
    activity = await harness.client.get("/v1/me/activity", headers=auth(token))
    types = [event["type"] for event in activity.json()["events"]]
    assert "account:passkey:suspect" in types


async def test_an_authenticator_without_a_counter_signs_in_again_and_again(
    harness: Harness,
) -> None:
    token = await signed_up_and_stepped_up(harness)
    device = SoftAuthenticator(ORIGIN, counts=False)  # synced passkeys send 0
    await register(harness, token, device)
    for _ in range(3):
        request = await sign_in_options(harness)
        signed_in = await answer_sign_in(harness, request, device.get(request["options"]))
        assert signed_in.status_code == 201, signed_in.text


async def test_one_credential_is_registered_once(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    device = SoftAuthenticator(ORIGIN)
    options = (
        await harness.client.post("/v1/me/passkeys/registration/options", headers=auth(token))
    ).json()
    credential = device.create(options["options"])
    first = await harness.client.post(
        "/v1/me/passkeys/registration",
        json={"registration_id": options["registration_id"], "credential": credential},
        headers=auth(token),
    )
    assert first.status_code == 201, first.text
    second_options = (
        await harness.client.post("/v1/me/passkeys/registration/options", headers=auth(token))
    ).json()
    # The same credential again (its client data names the first challenge).
    replayed = await harness.client.post(
        "/v1/me/passkeys/registration",
        json={"registration_id": second_options["registration_id"], "credential": credential},
        headers=auth(token),
    )
    assert replayed.json()["error"]["code"] == "passkey_challenge_mismatch"
    used = await harness.client.post(
        "/v1/me/passkeys/registration",
        json={"registration_id": options["registration_id"], "credential": credential},
        headers=auth(token),
    )
    assert used.status_code == 409 and used.json()["error"]["code"] == "passkey_challenge_used"


async def test_a_passkey_is_one_proof_at_a_forgotten_password(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    device = SoftAuthenticator(ORIGIN)
    await register(harness, token, device)
    await register(harness, token, SoftAuthenticator(ORIGIN), "Second")
    await harness.client.put("/v1/me/two-step", json={"enabled": True}, headers=auth(token))
    other = await signed_up_and_stepped_up(harness, "dorothy@example.com")
    strangers = SoftAuthenticator(ORIGIN)
    await register(harness, other, strangers)

    recovery = (await harness.client.post("/v1/recovery", json={"sign_in_name": EMAIL})).json()
    base = f"/v1/recovery/{recovery['recovery_id']}"

    async def with_passkey(authenticator: SoftAuthenticator) -> Any:
        options = await harness.client.post(f"{base}/passkey/options")
        assert options.status_code == 200, options.text
        assert options.json()["options"]["allowCredentials"] == []  # nothing to enumerate
        return await harness.client.post(
            f"{base}/passkey",
            json={
                "authentication_id": options.json()["authentication_id"],
                "credential": authenticator.get(options.json()["options"]),
            },
        )

    refused = await with_passkey(strangers)  # another account's passkey
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "passkey_unknown"
    proved = await with_passkey(device)
    assert proved.status_code == 200, proved.text
    assert proved.json() == {"proofs_left": 1}  # 2-step on: two proofs
    twice = await with_passkey(device)  # the same passkey does not count twice
    assert twice.json()["error"]["code"] == "passkey_unknown"
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


async def test_without_a_fitting_web_domain_passkeys_are_off_and_say_why(
    database_url: str, tmp_path: Any
) -> None:
    from tests.conftest import running_app

    async with running_app(database_url, tmp_path, public_url="http://127.0.0.1:8000") as off:
        answer = await off.client.post("/v1/sessions/passkey/options")
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error["code"] == "passkeys_unavailable"
        assert "SECINFO_WEB_DOMAIN" in error["message"] and "127.0.0.1" in error["message"]


async def test_remove_all_holds_the_passkey_for_the_waiting_period_and_freezes_adding(
    harness: Harness,
) -> None:
    token = await signed_up_and_stepped_up(harness)
    device = SoftAuthenticator(ORIGIN)
    item = await register(harness, token, device)
    held = await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    assert held.status_code == 202, held.text
    listed = await harness.client.get("/v1/me/security-info", headers=auth(token))
    state = next(entry["state"] for entry in listed.json()["items"] if entry["id"] == item["id"])
    assert state == "removal_pending"
    frozen = await harness.client.post("/v1/me/passkeys/registration/options", headers=auth(token))
    assert frozen.status_code == 409
    assert frozen.json()["error"]["code"] == "security_info_change_pending"
    # The account stays usable while it waits: the passkey still signs in.
    request = await sign_in_options(harness)
    signed_in = await answer_sign_in(harness, request, device.get(request["options"]))
    assert signed_in.status_code == 201, signed_in.text


async def test_old_passkey_options_are_purged_by_the_scheduled_jobs(harness: Harness) -> None:
    from secinfo.scheduler import run_jobs_once

    await sign_in_options(harness)
    await sign_in_options(harness)
    assert (await run_jobs_once(harness.app.deps))["passkey_options_purged"] == 0
    harness.clock.advance(timedelta(hours=1, minutes=6))
    assert (await run_jobs_once(harness.app.deps))["passkey_options_purged"] == 2
