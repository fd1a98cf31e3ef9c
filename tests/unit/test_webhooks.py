"""Webhooks on the fakes: patterns, URLs, signatures (checked with the standardwebhooks
library), payloads that never carry a contact value, and fan-out in the event's
transaction for every event type."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from tests.fakes import START, make_deps, store_of

from secinfo.domain.events import EventTag
from secinfo.domain.model import RequestContext
from secinfo.domain.webhooks import (
    InvalidEventPattern,
    InvalidWebhookUrl,
    WebhookEndpoint,
    clean_patterns,
    clean_url,
    event_payload,
    new_secret,
    pattern_matches,
    signed_headers,
)
from secinfo.services import activity, webhooks

pytestmark = pytest.mark.anyio
SRC = Path(__file__).resolve().parents[2] / "src" / "secinfo"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_patterns_match_exactly_by_prefix_or_everything() -> None:
    assert pattern_matches("account:security_info:*", "account:security_info:added")
    assert not pattern_matches("account:security_info:*", "account:sign_in:success")
    assert pattern_matches("account:secured", "account:secured")
    assert not pattern_matches("account:secured", "account:secured:more")
    assert pattern_matches("*", "account:created")
    assert clean_patterns(["account:security_info:*, account:secured", "*"]) == [
        "account:security_info:*",
        "account:secured",
        "*",
    ]
    for wrong in (["account:security_info"], ["account:nothing:*"], ["  "], ["webhook.test"]):
        with pytest.raises(InvalidEventPattern):
            clean_patterns(wrong)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://",
        "https://a:b@example.com/",
        "https://token@example.com/",
        "https://example.com/#x",
        "https://exa mple.com/",
        "https://example.com:99999/",
        "http://0.0.0.0/",
        "https://ex_ample.com/",
    ],
)
def test_urls_that_cannot_or_should_not_be_called_are_refused(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        clean_url(url)


def test_production_requires_https_unless_allowed() -> None:
    with pytest.raises(InvalidWebhookUrl, match="SECINFO_WEBHOOK_ALLOW_HTTP"):
        clean_url("http://hooks.example.com/h", allow_http=False)
    assert clean_url("https://hooks.example.com/h", allow_http=False)


def test_good_urls_are_kept_as_given() -> None:
    for url in ("https://hooks.example.com/secinfo?team=7", "http://127.0.0.1:8080/h"):
        assert clean_url(f"  {url} ") == url


@given(body=st.text(max_size=300), message_id=st.from_regex(r"msg_[0-9a-f]{8}", fullmatch=True))
def test_signatures_verify_with_the_reference_library(body: str, message_id: str) -> None:
    secret, previous = new_secret(), new_secret()
    timestamp = int(time.time())  # the library checks it against the real time
    headers = signed_headers([secret, previous], message_id, timestamp, json.dumps(body))
    for key in (secret, previous):
        assert Webhook(key).verify(json.dumps(body), headers) == body


CONTACTS = st.sampled_from(
    ["ada@example.com", "Ada.Lovelace@Example.COM", "+14155550123", "+44 7400 123456"]
)


@given(value=CONTACTS, key=st.sampled_from(["label", "masked", "reason", "kind", "code", "ip"]))
def test_a_payload_never_carries_a_full_contact_value_or_an_unlisted_detail(
    value: str, key: str
) -> None:
    body = event_payload(
        "account:security_info:added",
        START,
        event_id="evt_1",
        account_id="acc_1",
        details={key: value, "code": "123456", "token": "sis_abc", "secret": "JBSWY3DP"},
    )
    assert value not in body
    for word in ("123456", "sis_abc", "JBSWY3DP"):
        assert word not in body
    assert json.loads(body)["data"] == {"id": "evt_1", "account_id": "acc_1"}


def test_masked_values_and_labels_are_kept() -> None:
    body = json.loads(
        event_payload(
            "account:security_info:removed",
            START,
            event_id="evt_1",
            account_id="acc_1",
            outcome="success",
            details={"label": "ad*****@example.com", "kind": "email", "item_id": "inf_1"},
        )
    )
    assert body["data"]["label"] == "ad*****@example.com"
    assert body["timestamp"] == "2030-01-01T09:00:00.000Z"


def test_a_rotated_secret_signs_only_during_its_overlap() -> None:
    endpoint = WebhookEndpoint(
        id="whe_1", url="https://x.example/h", events=["*"], created_at=START, secret="whsec_a"
    )
    endpoint.rotate("whsec_b", START, timedelta(hours=1))
    assert endpoint.signing_secrets(START + timedelta(minutes=59)) == ["whsec_b", "whsec_a"]
    assert endpoint.signing_secrets(START + timedelta(hours=1)) == ["whsec_b"]
    endpoint.rotate("whsec_c", START, timedelta(0))
    assert endpoint.signing_secrets(START) == ["whsec_c"]


@pytest.mark.parametrize("tag", list(EventTag))
async def test_every_event_type_fans_out_in_the_transaction_that_records_it(
    tag: EventTag,
) -> None:
    deps = make_deps()
    everything = await webhooks.create(deps, "https://a.example/h", ["*"])
    await webhooks.create(deps, "https://b.example/h", [tag.value])
    prefix = tag.value.rsplit(":", 1)[0] + ":*"
    await webhooks.create(deps, "https://c.example/h", [prefix])
    await webhooks.create(deps, "https://d.example/h", ["account:billing:updated"])
    quiet = await webhooks.create(deps, "https://e.example/h", ["*"])
    await webhooks.disable(deps, quiet.endpoint.id)

    async with deps.uow() as uow:  # rolled back: neither the event nor its webhooks
        await activity.record(deps, uow, "acc_1", tag, RequestContext())
    assert store_of(deps).messages() == []

    async with deps.uow() as uow:
        await activity.record(deps, uow, "acc_1", tag, RequestContext(ip="203.0.113.7"))
        await uow.commit()
    queued = store_of(deps).messages()
    expected = 3 + (tag is EventTag.BILLING_UPDATED)
    assert len(queued) == expected
    assert quiet.endpoint.id not in {message.destination for message in queued}
    assert everything.endpoint.id in {message.destination for message in queued}
    (event,) = store_of(deps).events()
    for message in queued:
        payload = json.loads(message.body)
        assert payload["type"] == tag.value == message.template
        assert payload["data"]["id"] == event.id
        assert "203.0.113.7" not in message.body


def test_only_the_activity_service_writes_events() -> None:
    """Webhooks fan out in ``activity.record``: an event written any other way would
    skip them, so nothing else may call ``activity.add``."""
    writers = [
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if re.search(r"\.activity\.add\(", path.read_text())
    ]
    assert writers == ["services/activity.py"]


@pytest.mark.parametrize(("jitter", "hours"), [(0.5, 5.2), (1.0, 10.4)])
async def test_webhooks_retry_for_hours_by_default(
    jitter: float, hours: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented budget: 20 attempts, waits doubling from 5 s up to an hour."""
    from secinfo import worker
    from secinfo.bootstrap import build
    from secinfo.config import load_settings
    from secinfo.domain.contacts import Channel

    monkeypatch.setattr(worker.random, "uniform", lambda low, high: jitter)
    app = build(load_settings(database_url=f"sqlite:///{tmp_path}/x.db", data_dir=tmp_path))
    try:
        policy = app.deliverer.retries[Channel.WEBHOOK]
        waits = [policy.next_delay(attempt) for attempt in range(1, policy.max_attempts)]
        assert policy.max_attempts == 20
        assert abs(sum(waits, timedelta()).total_seconds() / 3600 - hours) < 0.1
        assert app.deliverer.retry.max_attempts == 8  # email and SMS keep theirs
    finally:
        await app.close()
