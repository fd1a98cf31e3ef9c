"""SMS over HTTP against a local server: the Twilio-style Messages API and a generic
webhook. 2xx sent; 4xx permanent; 5xx, 429 and timeouts retried."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from secinfo.adapters.delivery.sms import sms_segments
from secinfo.domain.contacts import Channel
from tests.delivery_support import (
    CODE,
    Scripted,
    SmsEndpoint,
    attempt_rows,
    deliver_all,
    delivery_app,
    outbox_rows,
    queue_messages,
)
from tests.support import MovableClock

pytestmark = pytest.mark.anyio
PHONE = "+14155550123"


@pytest.fixture
def endpoint() -> Iterator[SmsEndpoint]:
    server = SmsEndpoint().start()
    yield server
    server.stop()


def twilio(endpoint: SmsEndpoint, **more: object) -> dict[str, object]:
    return {
        "sms_provider": "twilio",
        "sms_twilio_base_url": endpoint.url,
        "sms_twilio_account_sid": "AC0123456789abcdef",
        "sms_twilio_auth_token": "tw-auth-token-value",
        "sms_from": "+15005550006",
        "sms_timeout_seconds": 1,
        "web_domain": "accounts.example.com",
        **more,
    }


async def test_twilio_style_form_post_with_basic_auth(
    database_url: str, tmp_path: Path, endpoint: SmsEndpoint
) -> None:
    async with delivery_app(database_url, tmp_path, **twilio(endpoint)) as app:
        [message_id] = await queue_messages(app, Channel.SMS, [PHONE])
        await deliver_all(app)
        [call] = endpoint.calls
        assert call.method == "POST"
        assert call.path == "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
        scheme, _, credentials = call.headers["Authorization"].partition(" ")
        assert scheme == "Basic"
        assert base64.b64decode(credentials) == b"AC0123456789abcdef:tw-auth-token-value"
        form = {key: values[0] for key, values in parse_qs(call.body.decode()).items()}
        assert form["To"] == PHONE
        assert form["From"] == "+15005550006"
        assert form["Body"].endswith(f"@accounts.example.com #{CODE}")
        assert sms_segments(form["Body"]) == 1
        # The outbox id, for a gateway to drop a repeat (the form keeps Twilio's shape).
        assert call.headers["Idempotency-Key"] == message_id
        assert call.headers["I-Twilio-Idempotency-Token"] == message_id
        assert set(form) == {"To", "From", "Body"}

        [row] = await outbox_rows(app)
        assert row.status == "sent"
        assert row.provider_message_id == f"SM{1:032d}"
        assert row.body == ""
        [attempt] = await attempt_rows(app, message_id)
        assert attempt.outcome == "sent"


async def test_a_4xx_answer_is_permanent_and_its_text_is_not_kept(
    database_url: str, tmp_path: Path, endpoint: SmsEndpoint
) -> None:
    endpoint.script = [Scripted(400, {"code": 21211, "message": f"Invalid 'To'; body was {CODE}"})]
    async with delivery_app(database_url, tmp_path, **twilio(endpoint)) as app:
        await queue_messages(app, Channel.SMS, [PHONE])
        await deliver_all(app)
        [row] = await outbox_rows(app)
        assert row.status == "dead"
        assert row.attempts == 1
        assert row.last_error == "HTTP 400 (provider error 21211)"
        assert row.body == ""  # dead: the code is wiped


@pytest.mark.parametrize("answer", [Scripted(503), Scripted(429), Scripted(201, delay=2.5)])
async def test_5xx_429_and_timeouts_are_retried_with_backoff(
    database_url: str, tmp_path: Path, endpoint: SmsEndpoint, answer: Scripted
) -> None:
    endpoint.script = [answer]
    clock = MovableClock()
    async with delivery_app(database_url, tmp_path, clock=clock, **twilio(endpoint)) as app:
        [message_id] = await queue_messages(app, Channel.SMS, [PHONE])
        await deliver_all(app)
        [row] = await outbox_rows(app)
        assert row.status == "failed"
        wait = (row.next_attempt_at - clock.current).total_seconds()
        assert 2.4 <= wait <= 5.1  # first retry: 5 s less up to half of it (jitter)
        assert "tw-auth-token-value" not in row.last_error
        assert CODE not in row.last_error

        await deliver_all(app)  # not due yet: nothing happens
        assert endpoint.count() == 1
        clock.advance(seconds=6)
        await deliver_all(app)
        [row] = await outbox_rows(app)
        assert row.status == "sent"
        assert [a.outcome for a in await attempt_rows(app, message_id)] == ["failed", "sent"]


async def test_dead_after_the_maximum_number_of_attempts(
    database_url: str, tmp_path: Path, endpoint: SmsEndpoint
) -> None:
    endpoint.script = [Scripted(500)] * 3
    clock = MovableClock()
    settings = twilio(endpoint, delivery_max_attempts=3)
    async with delivery_app(database_url, tmp_path, clock=clock, **settings) as app:
        [message_id] = await queue_messages(app, Channel.SMS, [PHONE])
        for _ in range(3):
            await deliver_all(app)
            clock.advance(minutes=1)
        [row] = await outbox_rows(app)
        assert row.status == "dead"
        assert row.last_error == "HTTP 500"
        assert [a.outcome for a in await attempt_rows(app, message_id)] == [
            "failed",
            "failed",
            "dead",
        ]
        assert endpoint.count() == 3


async def test_an_expired_code_is_never_sent(
    database_url: str, tmp_path: Path, endpoint: SmsEndpoint
) -> None:
    endpoint.script = [Scripted(503)]
    clock = MovableClock()
    async with delivery_app(database_url, tmp_path, clock=clock, **twilio(endpoint)) as app:
        await queue_messages(app, Channel.SMS, [PHONE])
        await deliver_all(app)  # fails, retry later
        clock.advance(minutes=11)  # the code is no longer valid
        await deliver_all(app)
        [row] = await outbox_rows(app)
        assert row.status == "expired"
        assert row.body == ""
        assert endpoint.count() == 1


async def test_generic_webhook_with_a_json_template_and_headers(
    database_url: str, tmp_path: Path, endpoint: SmsEndpoint
) -> None:
    settings = {
        "sms_provider": "webhook",
        "sms_webhook_url": f"{endpoint.url}/send",
        "sms_webhook_method": "PUT",
        "sms_webhook_headers": {"X-Api-Key": "hook-key"},
        "sms_webhook_body": json.dumps(
            {"message": {"recipient": "{to}", "text": "{body}"}, "ref": "{id}", "from": "{from}"}
        ),
        "sms_webhook_id_field": "id",
        "sms_from": "Example",
    }
    async with delivery_app(database_url, tmp_path, **settings) as app:
        [message_id] = await queue_messages(app, Channel.SMS, [PHONE])
        await deliver_all(app)
        [call] = endpoint.calls
        assert (call.method, call.path) == ("PUT", "/send")
        assert call.headers["X-Api-Key"] == "hook-key"
        sent = json.loads(call.body)
        assert sent["message"]["recipient"] == PHONE
        assert sent["message"]["text"].startswith("secinfo: 428913 is your verification code")
        assert "\n\n@localhost #428913" in sent["message"]["text"]  # JSON-escaped newlines
        assert sent["ref"] == message_id
        assert sent["from"] == "Example"
        [row] = await outbox_rows(app)
        assert row.provider_message_id == "wh-1"


async def test_webhook_404_is_permanent(
    database_url: str, tmp_path: Path, endpoint: SmsEndpoint
) -> None:
    endpoint.script = [Scripted(404, {"error": "no route"})]
    settings = {"sms_provider": "webhook", "sms_webhook_url": f"{endpoint.url}/nope"}
    async with delivery_app(database_url, tmp_path, **settings) as app:
        await queue_messages(app, Channel.SMS, [PHONE])
        await deliver_all(app)
        [row] = await outbox_rows(app)
        assert (row.status, row.last_error) == ("dead", "HTTP 404")


async def test_the_default_webhook_body_carries_the_idempotency_id(
    database_url: str, tmp_path: Path, endpoint: SmsEndpoint
) -> None:
    """Delivery is at-least-once: the outbox id, the same on every retry, lets the
    receiver drop the rare duplicate."""
    endpoint.script = [Scripted(503, {"error": "busy"})]
    settings = {"sms_provider": "webhook", "sms_webhook_url": f"{endpoint.url}/send"}
    clock = MovableClock()
    async with delivery_app(database_url, tmp_path, clock=clock, **settings) as app:
        [message_id] = await queue_messages(app, Channel.SMS, [PHONE])
        await deliver_all(app)
        clock.advance(seconds=6)  # past the first backoff
        await deliver_all(app)
        assert len(endpoint.calls) == 2  # a 503, then the retry
        bodies = [json.loads(call.body) for call in endpoint.calls]
        assert [body["id"] for body in bodies] == [message_id, message_id]
        assert all(body["to"] == PHONE for body in bodies)
        assert [call.headers["Idempotency-Key"] for call in endpoint.calls] == [message_id] * 2


async def test_a_webhook_body_without_the_id_still_sends_it_in_a_header(
    database_url: str, tmp_path: Path, endpoint: SmsEndpoint
) -> None:
    """A gateway with a fixed body shape still gets the idempotency id."""
    settings = {
        "sms_provider": "webhook",
        "sms_webhook_url": f"{endpoint.url}/send",
        "sms_webhook_headers": {"X-Api-Key": "hook-key"},
        "sms_webhook_body": json.dumps({"number": "{to}", "text": "{body}"}),
    }
    async with delivery_app(database_url, tmp_path, **settings) as app:
        [message_id] = await queue_messages(app, Channel.SMS, [PHONE])
        await deliver_all(app)
        [call] = endpoint.calls
        assert set(json.loads(call.body)) == {"number", "text"}
        assert call.headers["Idempotency-Key"] == message_id
        assert call.headers["X-Api-Key"] == "hook-key"
