"""Nothing secret in any log line (issue 11 item 4) and no unretrieved task exception
(issue 10 item 5): the scenarios run at debug level, on SQLite and PostgreSQL, and every
captured line (stdlib records with their tracebacks, structlog's output) is scanned for
codes, passwords, password hashes, tokens, API keys and full contacts."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import structlog

from secinfo.adapters.sql.tables import accounts
from secinfo.domain.model import ApiKeyScope
from secinfo.logging import configure_logging
from secinfo.services import api_keys
from tests.conftest import Harness, auth
from tests.webhook_support import WebhookReceiver

pytestmark = pytest.mark.anyio

EMAIL = "Log.Reader@example.com"
OTHER = "second.person@example.org"
PHONE = "+14155550189"
VERIFY_PHONE = "+14155550142"
VERIFY_EMAIL = "verify.only@example.net"
PASSWORD = "a long passphrase 1"
NEW_PASSWORD = "a brand new secret 2"


class Logs:
    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
        self.caplog = caplog
        self.capsys = capsys

    def text(self) -> str:
        captured = self.capsys.readouterr()
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        records = "\n".join(formatter.format(record) for record in self.caplog.records)
        return "\n".join([records, captured.out, captured.err])


@pytest.fixture
def debug_logs(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[Logs]:
    """The service's own logging set-up at debug level (uncached: tests share loggers)."""
    configure_logging("debug", "json", cache=False)
    caplog.set_level(logging.DEBUG)
    try:
        yield Logs(caplog, capsys)
    finally:
        structlog.reset_defaults()


async def run_scenarios(harness: Harness) -> dict[str, set[str]]:
    """Sign up, sign in, a wrong then a right code, step-up, add a phone, recovery, the
    Verify API on both channels, billing; return every secret the scenarios saw."""
    client = harness.client
    secrets: dict[str, set[str]] = {"code": set(), "token": set(), "contact": set()}
    # Webhooks to a real receiver, subscribed to everything, with a rotated secret.
    admin = (await api_keys.create(harness.app.deps, "ops", ApiKeyScope.ADMIN)).key
    secrets["token"].add(admin)
    receiver = WebhookReceiver().start()
    endpoint = await client.post(
        "/v1/admin/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=auth(admin)
    )
    assert endpoint.status_code == 201, endpoint.text
    rotated = await client.post(
        f"/v1/admin/webhooks/{endpoint.json()['id']}/rotate-secret", headers=auth(admin)
    )
    for secret in (endpoint.json()["secret"], rotated.json()["secret"]):
        secrets["webhook secret"] = secrets.get("webhook secret", set()) | {
            secret,
            secret.removeprefix("whsec_"),
        }

    async def code(to: str) -> str:
        value = await harness.latest_code(to)
        secrets["code"].add(value)
        return value

    started = await client.post("/v1/accounts", json={"sign_in_name": EMAIL, "password": PASSWORD})
    assert started.status_code == 202, started.text
    verification_id = started.json()["verification_id"]
    right = await code(EMAIL)
    wrong = "0" * len(right) if right != "0" * len(right) else "1" * len(right)
    missed = await client.post(
        "/v1/accounts/confirm", json={"verification_id": verification_id, "code": wrong}
    )
    assert missed.status_code == 400, missed.text
    confirmed = await client.post(
        "/v1/accounts/confirm", json={"verification_id": verification_id, "code": right}
    )
    assert confirmed.status_code == 201, confirmed.text
    token = confirmed.json()["token"]
    secrets["token"].add(token)

    failed = await client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": "not the password 9"}
    )
    assert failed.status_code == 401
    signed_in = await client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": PASSWORD}
    )
    assert signed_in.status_code in (201, 202), signed_in.text
    for name in ("token", "device_token"):
        if signed_in.json().get(name):
            secrets["token"].add(signed_in.json()[name])

    items = (await client.get("/v1/me/security-info", headers=auth(token))).json()["items"]
    stepping = await client.post(
        "/v1/me/step-up", json={"security_info_id": items[0]["id"]}, headers=auth(token)
    )
    assert stepping.status_code == 201, stepping.text
    checked = await client.post(
        f"/v1/me/step-up/{stepping.json()['id']}/check",
        json={"code": await code(EMAIL)},
        headers=auth(token),
    )
    assert checked.status_code == 200, checked.text

    added = await client.post(
        "/v1/me/security-info",
        json={"kind": "phone", "value": PHONE, "label": "mobile"},
        headers=auth(token),
    )
    assert added.status_code == 201, added.text
    verified = await client.post(
        f"/v1/me/security-info/{added.json()['item']['id']}/verify",
        json={"verification_id": added.json()["verification"]["id"], "code": await code(PHONE)},
        headers=auth(token),
    )
    assert verified.status_code == 200, verified.text
    other = await client.post(
        "/v1/me/security-info", json={"kind": "email", "value": OTHER}, headers=auth(token)
    )
    assert other.status_code == 201, other.text
    secrets["code"].add(await code(OTHER))

    recovery = (await client.post("/v1/recovery", json={"sign_in_name": EMAIL})).json()
    email_contact = next(c for c in recovery["contacts"] if c["channel"] == "email")
    sent = await client.post(
        f"/v1/recovery/{recovery['recovery_id']}/send",
        json={"contact_id": email_contact["contact_id"], "contact": EMAIL},
    )
    assert sent.status_code in (200, 201, 202), sent.text
    proved = await client.post(
        f"/v1/recovery/{recovery['recovery_id']}/verify",
        json={"verification_id": sent.json()["verification_id"], "code": await code(EMAIL)},
    )
    assert proved.status_code == 200, proved.text
    reset = await client.post(
        f"/v1/recovery/{recovery['recovery_id']}/reset", json={"new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204, reset.text
    await client.post("/v1/recovery", json={"sign_in_name": "nobody.here@example.com"})

    key = await harness.api_key()
    secrets["token"].add(key)
    for to, channel in ((VERIFY_PHONE, "sms"), (VERIFY_EMAIL, "email")):
        verification = await client.post(
            "/v1/verifications", json={"to": to, "channel": channel}, headers=auth(key)
        )
        assert verification.status_code == 201, verification.text
        base = f"/v1/verifications/{verification.json()['id']}"
        await client.post(f"{base}/check", json={"code": wrong}, headers=auth(key))
        approved = await client.post(
            f"{base}/check", json={"code": await code(to)}, headers=auth(key)
        )
        assert approved.json()["status"] == "approved", approved.text

    async with harness.app.engine.connect() as connection:
        hashes = set((await connection.execute(sa.select(accounts.c.password_hash))).scalars())
    secrets["password hash"] = hashes
    secrets["password"] = {PASSWORD, NEW_PASSWORD}
    secrets["contact"] |= {
        EMAIL,
        EMAIL.lower(),
        OTHER,
        PHONE,
        PHONE[1:],
        VERIFY_PHONE,
        VERIFY_EMAIL,
    }
    await harness.deliver()
    assert len(receiver.inbox.accepted()) >= 10  # the events went out, signed
    receiver.stop()
    return secrets


async def test_no_log_line_carries_a_secret_at_debug_level(
    harness: Harness, debug_logs: Logs
) -> None:
    secrets = await run_scenarios(harness)
    text = debug_logs.text()
    assert text.strip(), "nothing was logged: the capture is not working"
    found: list[str] = []
    for kind, values in secrets.items():
        for value in values:
            # A code is short: look for it as a whole word only.
            if kind == "code":
                if re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", text):
                    found.append(f"{kind} {value}")
            elif value and value.lower() in text.lower():
                found.append(f"{kind} {value}")
    assert not found, "secrets in the logs: " + ", ".join(found)


async def test_no_task_exception_is_left_unretrieved(harness: Harness, debug_logs: Logs) -> None:
    """A right code clears the failure counter while the memory store expires events."""
    await run_scenarios(harness)
    for _ in range(20):  # more right-after-wrong codes through the Verify API
        key = await harness.api_key()
        verification = await harness.client.post(
            "/v1/verifications", json={"to": VERIFY_EMAIL, "channel": "email"}, headers=auth(key)
        )
        base = f"/v1/verifications/{verification.json()['id']}"
        await harness.client.post(f"{base}/check", json={"code": "000000"}, headers=auth(key))
        await harness.client.post(
            f"{base}/check",
            json={"code": await harness.latest_code(VERIFY_EMAIL)},
            headers=auth(key),
        )
    gc.collect()
    text = debug_logs.text()
    assert "Task exception was never retrieved" not in text
    assert "KeyError" not in text
