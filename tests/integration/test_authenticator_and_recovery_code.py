"""Authenticator apps (TOTP) and the recovery code over HTTP, on SQLite and PostgreSQL.

Codes are computed with pyotp from the secret the enrolment answer shows, with the
clock moved across 30-second steps, the way an app on a phone computes them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.tables import security_info
from secinfo.scheduler import run_jobs_once
from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio

EMAIL = "tess@example.com"
PASSWORD = "a long passphrase 1"
CREDENTIALS = {"sign_in_name": EMAIL, "password": PASSWORD}
RECOVERY_CODE = re.compile(
    r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{5}(-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{5}){4}$"
)


def start_of_a_step(harness: Harness) -> None:
    """Move the clock to 5 seconds into a fresh 30-second step."""
    now = harness.clock.current.timestamp()
    harness.clock.current = datetime.fromtimestamp((now // 30 + 1) * 30 + 5, UTC)


def code_at(secret: str, harness: Harness, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(harness.clock.current + timedelta(seconds=30 * steps))


def next_step(harness: Harness, steps: int = 1) -> None:
    harness.clock.advance(seconds=30 * steps)


def elsewhere(harness: Harness, ip: str = "198.51.100.77") -> httpx.AsyncClient:
    """A client from a network the account has not used: its sign-in is challenged."""
    app = harness.client._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://secinfo.test")


async def signed_up_and_stepped_up(harness: Harness) -> str:
    token = await harness.sign_up(EMAIL, PASSWORD)
    await harness.step_up(token, EMAIL)
    return token


async def add_authenticator(
    harness: Harness, token: str, label: str = "Phone app"
) -> dict[str, Any]:
    """Enrol and activate an authenticator; return the item and its secret."""
    added = await harness.client.post(
        "/v1/me/security-info",
        json={"kind": "authenticator", "label": label},
        headers=auth(token),
    )
    assert added.status_code == 201, added.text
    body = added.json()
    start_of_a_step(harness)
    verified = await harness.client.post(
        f"/v1/me/security-info/{body['item']['id']}/verify",
        json={"code": code_at(body["enrollment"]["secret"], harness)},
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["state"] == "active"
    return {"item": verified.json(), "secret": body["enrollment"]["secret"]}


async def test_add_activate_step_up_replay_and_the_window(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    added = await harness.client.post(
        "/v1/me/security-info",
        json={"kind": "authenticator", "label": "Phone app"},
        headers=auth(token),
    )
    assert added.status_code == 201, added.text
    body = added.json()
    item = body["item"]
    assert item == item | {"kind": "authenticator", "state": "pending", "label": "Phone app"}
    secret = body["enrollment"]["secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)  # 160 bits of base32
    uri = body["enrollment"]["otpauth_uri"]
    assert uri.startswith("otpauth://totp/secinfo:te*****@example.com?secret=" + secret)
    for part in ("issuer=secinfo", "algorithm=SHA1", "digits=6", "period=30"):
        assert part in uri
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret

    # Not active until a code from the app comes back; a wrong one counts as a failure.
    start_of_a_step(harness)
    wrong = await harness.client.post(
        f"/v1/me/security-info/{item['id']}/verify", json={"code": "000000"}, headers=auth(token)
    )
    if code_at(secret, harness) != "000000":
        assert wrong.status_code == 400
        assert wrong.json()["error"]["code"] == "invalid_code"
    verified = await harness.client.post(
        f"/v1/me/security-info/{item['id']}/verify",
        json={"code": code_at(secret, harness)},
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["state"] == "active"
    notice = (await harness.mailbox(EMAIL))[0]
    assert "An authenticator app was added to your account: Phone app." in notice["body"]

    # The secret is never in a later answer, and is stored sealed.
    listed = await harness.client.get("/v1/me/security-info", headers=auth(token))
    assert secret not in listed.text
    async with harness.app.engine.connect() as connection:
        stored = (
            await connection.execute(
                sa.select(security_info.c.secret).where(security_info.c.id == item["id"])
            )
        ).scalar_one()
    assert stored.startswith("sealed:v1:") and secret not in stored

    # Step-up in one call; the same code (its time step) is refused the second time.
    next_step(harness)
    code = code_at(secret, harness)
    stepped = await harness.client.post(
        "/v1/me/step-up", json={"security_info_id": item["id"], "code": code}, headers=auth(token)
    )
    assert stepped.status_code == 201, stepped.text
    assert set(stepped.json()) == {"privileged_until"}
    replay = await harness.client.post(
        "/v1/me/step-up", json={"security_info_id": item["id"], "code": code}, headers=auth(token)
    )
    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "invalid_code"
    harness.clock.advance(seconds=10)  # still inside the step: still a replay
    again = await harness.client.post(
        "/v1/me/step-up", json={"security_info_id": item["id"], "code": code}, headers=auth(token)
    )
    assert again.status_code == 400

    # Two steps either side are refused; one step either side is accepted.
    next_step(harness, 3)
    for steps in (-2, 2):
        outside = await harness.client.post(
            "/v1/me/step-up",
            json={"security_info_id": item["id"], "code": code_at(secret, harness, steps)},
            headers=auth(token),
        )
        if code_at(secret, harness, steps) not in {code_at(secret, harness, s) for s in (-1, 0, 1)}:
            assert outside.status_code == 400, steps
    for steps in (-1, 1):
        inside = await harness.client.post(
            "/v1/me/step-up",
            json={"security_info_id": item["id"], "code": code_at(secret, harness, steps)},
            headers=auth(token),
        )
        assert inside.status_code == 201, (steps, inside.text)
    events = (await harness.client.get("/v1/me/activity", headers=auth(token))).json()["events"]
    step_ups = [e for e in events if e["type"] == "account:step_up:success" and e["details"]]
    assert step_ups[0]["details"]["label"] == "Phone app"
    failures = [e for e in events if e["type"] == "account:code:check_failed"]
    assert len(failures) >= 3


async def test_two_step_sign_in_asks_for_the_authenticator_first_and_recovery_takes_it(
    harness: Harness,
) -> None:
    token = await signed_up_and_stepped_up(harness)
    enrolled = await add_authenticator(harness, token)
    secret, item = enrolled["secret"], enrolled["item"]
    enabled = await harness.client.put(
        "/v1/me/two-step", json={"enabled": True}, headers=auth(token)
    )
    assert enabled.status_code == 200, enabled.text

    next_step(harness)
    step = await harness.client.post("/v1/sessions", json=CREDENTIALS)
    assert step.status_code == 202, step.text
    assert step.json()["reason"] == "two_step"
    first = step.json()["options"][0]
    assert first == first | {"channel": "authenticator", "security_info_id": item["id"]}
    url = f"/v1/sessions/challenges/{step.json()['challenge_id']}/verify"
    wrong = await harness.client.post(
        url, json={"security_info_id": item["id"], "code": code_at(secret, harness, 3)}
    )
    assert wrong.status_code == 400
    signed_in = await harness.client.post(
        url, json={"security_info_id": item["id"], "code": code_at(secret, harness)}
    )
    assert signed_in.status_code == 201, signed_in.text
    assert signed_in.json()["token"].startswith("sis_")
    assert "new_recovery_code" not in signed_in.json()

    # Recovery: the authenticator is one proof; with 2-step on the email is the second.
    recovery = (await harness.client.post("/v1/recovery", json={"sign_in_name": EMAIL})).json()
    assert recovery["other_proofs"] == ["authenticator", "recovery_code"]
    base = f"/v1/recovery/{recovery['recovery_id']}"
    next_step(harness)
    proved = await harness.client.post(
        f"{base}/verify", json={"kind": "authenticator", "code": code_at(secret, harness)}
    )
    assert proved.status_code == 200, proved.text
    assert proved.json() == {"proofs_left": 1}
    # The same item does not count twice.
    next_step(harness)
    twice = await harness.client.post(
        f"{base}/verify", json={"kind": "authenticator", "code": code_at(secret, harness)}
    )
    assert twice.status_code == 400
    sent = await harness.client.post(
        f"{base}/send",
        json={"contact_id": recovery["contacts"][0]["contact_id"], "contact": EMAIL},
    )
    by_email = await harness.client.post(
        f"{base}/verify",
        json={
            "verification_id": sent.json()["verification_id"],
            "code": await harness.latest_code(EMAIL),
        },
    )
    assert by_email.json() == {"proofs_left": 0}
    reset = await harness.client.post(f"{base}/reset", json={"new_password": "a new passphrase 2"})
    assert reset.status_code == 204, reset.text


async def test_recovery_offers_the_same_to_unknown_names(harness: Harness) -> None:
    await harness.sign_up(EMAIL, PASSWORD)  # no authenticator, no recovery code
    answers = []
    for name in (EMAIL, "nobody@example.org"):
        started = await harness.client.post("/v1/recovery", json={"sign_in_name": name})
        assert started.status_code == 202
        assert started.json()["other_proofs"] == ["authenticator", "recovery_code"]
        for kind, code in (
            ("authenticator", "123456"),
            ("recovery_code", "ABCDE-FGHJK-MNPQR-STUVW-XYZ23"),
        ):
            answer = await harness.client.post(
                f"/v1/recovery/{started.json()['recovery_id']}/verify",
                json={"kind": kind, "code": code},
            )
            answers.append((answer.status_code, answer.json()))
    assert len({str(answer) for answer in answers[::2]}) == 1
    assert len({str(answer) for answer in answers[1::2]}) == 1
    assert answers[0][0] == 400 and answers[0][1]["error"]["code"] == "invalid_code"


async def test_recovery_code_signs_in_once_and_comes_back_replaced(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    created = await harness.client.post(
        "/v1/me/security-info", json={"kind": "recovery_code"}, headers=auth(token)
    )
    assert created.status_code == 201, created.text
    item = created.json()["item"]
    assert item == item | {"kind": "recovery_code", "state": "active"}
    first = created.json()["recovery_code"]
    assert RECOVERY_CODE.match(first)
    assert "A recovery code was created" in (await harness.mailbox(EMAIL))[0]["body"]

    async def challenge() -> str:
        async with elsewhere(harness) as client:
            step = await client.post("/v1/sessions", json=CREDENTIALS)
        assert step.status_code == 202, step.text
        option = step.json()["options"][-1]
        assert option == option | {"channel": "recovery_code", "security_info_id": item["id"]}
        return f"/v1/sessions/challenges/{step.json()['challenge_id']}/verify"

    url = await challenge()
    # Typed in lower case with spaces: the same code.
    typed = first.lower().replace("-", " ")
    signed_in = await harness.client.post(url, json={"security_info_id": item["id"], "code": typed})
    assert signed_in.status_code == 201, signed_in.text
    second = signed_in.json()["new_recovery_code"]
    assert RECOVERY_CODE.match(second) and second != first
    used = (await harness.mailbox(EMAIL))[0]
    assert used["subject"] == "Your secinfo recovery code was used"

    url = await challenge()
    old = await harness.client.post(url, json={"security_info_id": item["id"], "code": first})
    assert old.status_code == 400
    assert old.json()["error"]["code"] == "invalid_code"
    new = await harness.client.post(url, json={"security_info_id": item["id"], "code": second})
    assert new.status_code == 201, new.text
    third = new.json()["new_recovery_code"]

    # Asking again replaces it: the code in hand stops working.
    await harness.step_up(token, EMAIL)
    replaced = await harness.client.post(
        "/v1/me/security-info", json={"kind": "recovery_code"}, headers=auth(token)
    )
    assert replaced.status_code == 201
    assert replaced.json()["item"]["id"] == item["id"]
    fourth = replaced.json()["recovery_code"]
    assert (await harness.mailbox(EMAIL))[0]["subject"] == "Your secinfo recovery code was replaced"
    refused = await harness.client.post(
        "/v1/me/step-up", json={"security_info_id": item["id"], "code": third}, headers=auth(token)
    )
    assert refused.status_code == 400
    stepped = await harness.client.post(
        "/v1/me/step-up", json={"security_info_id": item["id"], "code": fourth}, headers=auth(token)
    )
    assert stepped.status_code == 201, stepped.text
    assert RECOVERY_CODE.match(stepped.json()["new_recovery_code"])
    events = (await harness.client.get("/v1/me/activity", headers=auth(token))).json()["events"]
    kinds = [event["type"] for event in events]
    assert "account:recovery_code:used" in kinds and "account:recovery_code:replaced" in kinds
    assert all(
        event["details"]["label"] == "recovery code"
        for event in events
        if event["type"].startswith("account:recovery_code:")
    )


async def test_removal_and_the_waiting_period_include_both_kinds(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    enrolled = await add_authenticator(harness, token, "Old phone")
    second = await add_authenticator(harness, token, "Tablet")
    code = await harness.client.post(
        "/v1/me/security-info", json={"kind": "recovery_code"}, headers=auth(token)
    )
    assert code.status_code == 201

    # One authenticator goes at once while other info remains; every contact is told.
    removed = await harness.client.delete(
        f"/v1/me/security-info/{enrolled['item']['id']}", headers=auth(token)
    )
    assert removed.status_code == 200, removed.text
    assert (
        "An authenticator app was removed from your account: Old phone."
        in (await harness.mailbox(EMAIL))[0]["body"]
    )

    # Remove all: held 30 days, both kinds included; adding either is refused meanwhile.
    held = await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    assert held.status_code == 202, held.text
    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    states = {item["kind"]: item["state"] for item in items}
    assert states == {
        "email": "removal_pending",
        "authenticator": "removal_pending",
        "recovery_code": "removal_pending",
    }
    for body in ({"kind": "authenticator", "label": "New"}, {"kind": "recovery_code"}):
        frozen = await harness.client.post("/v1/me/security-info", json=body, headers=auth(token))
        assert frozen.status_code == 409, frozen.text
        assert frozen.json()["error"]["code"] == "security_info_change_pending"

    # The authenticator still proves it's the holder while the change waits.
    next_step(harness)
    still = await harness.client.post(
        "/v1/me/step-up",
        json={"security_info_id": second["item"]["id"], "code": code_at(second["secret"], harness)},
        headers=auth(token),
    )
    assert still.status_code == 201, still.text

    harness.clock.advance(days=30, minutes=1)
    assert (await run_jobs_once(harness.app.deps))["pending_changes_completed"] == 1
    async with harness.app.engine.connect() as connection:
        rows = (
            await connection.execute(sa.select(security_info.c.kind, security_info.c.state))
        ).all()
    assert {(row.kind, row.state) for row in rows} == {
        ("email", "removed"),
        ("authenticator", "removed"),
        ("recovery_code", "removed"),
    }
