"""Webhooks delivered by real ``secinfo worker`` processes on PostgreSQL: a worker killed
while requests are in flight loses nothing; the next one delivers the rest.

A worker killed between writing a request's headers and its body leaves the receiver a
request cut short; the test receiver, like any HTTP server, must not take that as a
delivery (it once did, answered 204 to an empty body, and the signature check of that
"delivery" failed now and then in full runs)."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from secinfo.adapters.clock import SystemClock
from secinfo.domain.model import ApiKeyScope
from secinfo.domain.webhooks import new_secret, signed_headers
from secinfo.services import api_keys, webhooks
from tests.delivery_support import SmtpServer, delivery_app, outbox_rows, wait_until
from tests.processes import Worker, workers
from tests.webhook_support import WebhookReceiver, verify_all

pytestmark = pytest.mark.anyio

__all__ = ["workers"]  # the fixture


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


async def test_a_worker_killed_mid_delivery_loses_no_webhook(
    postgres_url: str, tmp_path: Path, workers: list[Worker], receiver: WebhookReceiver
) -> None:
    receiver.inbox.delay = 0.3
    settings = {
        "SECINFO_DELIVERY_LEASE_SECONDS": "5",
        "SECINFO_DELIVERY_SEND_TIMEOUT_SECONDS": "2",
        "SECINFO_WEBHOOK_TIMEOUT_SECONDS": "1.5",
    }
    unused_smtp = SmtpServer()  # the workers need an email sender configured; none is sent
    async with delivery_app(postgres_url, tmp_path, clock=SystemClock()) as app:
        await api_keys.create(app.deps, "ops", ApiKeyScope.ADMIN)
        created = await webhooks.create(app.deps, receiver.url, ["*"])
        endpoint_id = created.endpoint.id
        ids = [(await webhooks.send_test(app.deps, endpoint_id)).id for _ in range(40)]

        first = Worker(
            postgres_url,
            tmp_path,
            unused_smtp,
            SECINFO_DELIVERY_BATCH_SIZE="20",
            SECINFO_DELIVERY_CONCURRENCY="4",
            **settings,
        )
        workers.append(first)
        wait_until(lambda: receiver.inbox.count() >= 8, 30, "the first deliveries")
        first.kill()
        rows = [row for row in await outbox_rows(app) if row.channel == "webhook"]
        abandoned = [row for row in rows if row.status == "sending"]
        assert abandoned, "the kill should land in the middle of a claimed batch"
        assert len({item.id for item in receiver.inbox.all()}) < len(ids)

        second = Worker(postgres_url, tmp_path, unused_smtp, **settings)
        workers.append(second)
        wait_until(
            lambda: {item.id for item in receiver.inbox.accepted()} >= set(ids),
            60,
            "every webhook at the receiver",
        )
        assert second.terminate() == 0
        received = receiver.inbox.accepted()
        assert {item.id for item in received} == set(ids)
        # At-least-once: only requests in flight at the kill (its concurrency) repeat,
        # with the same webhook-id, so the receiver de-duplicates them.
        assert len(received) - len(ids) <= 4
        verify_all(received, created.secret)
        rows = [row for row in await outbox_rows(app) if row.channel == "webhook"]
        assert Counter(row.status for row in rows) == {"sent": len(ids)}
        delivered = await webhooks.deliveries(app.deps, endpoint_id, 200)
        assert all(d.attempt_log and d.attempt_log[-1].outcome == "sent" for d in delivered)


def test_a_request_cut_off_after_its_headers_is_not_a_delivery(
    receiver: WebhookReceiver,
) -> None:
    secret = new_secret()
    body = '{"type": "webhook.test", "data": {}}'
    headers = signed_headers([secret], "msg_cut", int(time.time()), body)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST /hooks/secinfo HTTP/1.1\r\nhost: 127.0.0.1\r\n{head}"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", receiver.port)) as cut:
        cut.sendall(request.encode())  # and the sender dies before the body
    with socket.create_connection(("127.0.0.1", receiver.port)) as whole:
        whole.sendall(request.encode() + body.encode())
        assert whole.recv(100).startswith(b"HTTP/1.0 204")
    wait_until(lambda: receiver.inbox.cut_off == 1, 5, "the cut-off request")
    [delivered] = receiver.inbox.all()
    verify_all([delivered], secret)
