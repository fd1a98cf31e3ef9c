"""``secinfo worker`` as real processes on PostgreSQL, sending to a real SMTP server and
a local SMS gateway: killed mid-batch (another worker sends its messages within seconds,
each carrying its idempotency id), a send slower than the lease (the heartbeat keeps it),
stopped with SIGTERM, and two of them sharing 1,000 messages."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from secinfo.adapters.clock import SystemClock
from secinfo.domain.contacts import Channel
from tests.delivery_support import (
    SmsEndpoint,
    SmtpServer,
    attempt_rows,
    delivery_app,
    outbox_rows,
    queue_messages,
    wait_until,
)
from tests.processes import FROM_DOMAIN, Worker, workers

pytestmark = pytest.mark.anyio

__all__ = ["workers"]  # the fixture


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def sms_gateway() -> Iterator[SmsEndpoint]:
    server = SmsEndpoint().start()
    yield server
    server.stop()


def expected_ids(ids: list[str]) -> set[str]:
    return {f"<{message_id}@{FROM_DOMAIN}>" for message_id in ids}


@dataclass
class Sink:
    """Where a channel's messages arrive, and the outbox id each one carried."""

    channel: Channel
    env: dict[str, str]
    received: Callable[[], list[str]]
    destination: Callable[[int], str]


def email_sink(smtp: SmtpServer) -> Sink:
    def received() -> list[str]:
        ids = []
        for message_id in smtp.inbox.message_ids():  # the Message-ID header
            assert message_id.startswith("<msg_") and message_id.endswith(f"@{FROM_DOMAIN}>")
            ids.append(message_id[1 : -len(f"@{FROM_DOMAIN}>")])
        return ids

    return Sink(Channel.EMAIL, {}, received, lambda n: f"w{n}@example.com")


def sms_sink(gateway: SmsEndpoint) -> Sink:
    def received() -> list[str]:
        ids = []
        for call in gateway.all():
            body_id = json.loads(call.body)["id"]  # the default body's {id}
            assert call.headers["Idempotency-Key"] == body_id
            ids.append(body_id)
        return ids

    env = {"SECINFO_SMS_PROVIDER": "webhook", "SECINFO_SMS_WEBHOOK_URL": f"{gateway.url}/send"}
    return Sink(Channel.SMS, env, received, lambda n: f"+1415555{n:04d}")


SHORT_LEASE = {
    "SECINFO_DELIVERY_LEASE_SECONDS": "5",
    # Longer than the lease: the heartbeat keeps a slow send's lease.
    "SECINFO_DELIVERY_SEND_TIMEOUT_SECONDS": "20",
    "SECINFO_SMS_TIMEOUT_SECONDS": "20",
}


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS])
async def test_a_killed_workers_messages_are_sent_by_another_within_seconds(
    postgres_url: str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    sms_gateway: SmsEndpoint,
    workers: list[Worker],
    channel: Channel,
) -> None:
    sink = email_sink(smtp_server) if channel is Channel.EMAIL else sms_sink(sms_gateway)
    smtp_server.inbox.delay = sms_gateway.delay = 0.3
    async with delivery_app(postgres_url, tmp_path, clock=SystemClock()) as app:
        ids = await queue_messages(app, channel, [sink.destination(n) for n in range(40)])
        first = Worker(
            postgres_url,
            tmp_path,
            smtp_server,
            SECINFO_DELIVERY_BATCH_SIZE="20",
            SECINFO_DELIVERY_CONCURRENCY="2",
            **SHORT_LEASE,
            **sink.env,
        )
        workers.append(first)
        first_id = first.worker_id
        wait_until(lambda: len(sink.received()) >= 2, 30, "the first sends")
        second = Worker(postgres_url, tmp_path, smtp_server, **SHORT_LEASE, **sink.env)
        workers.append(second)
        second_id = second.worker_id
        first.kill()
        killed_at = time.monotonic()
        rows = await outbox_rows(app)
        abandoned = {
            row.id for row in rows if row.status == "sending" and row.worker_id == first_id
        }
        assert abandoned, "the kill should land while the first worker holds messages"

        wait_until(lambda: set(sink.received()) >= set(ids), 30, "every message delivered")
        took = time.monotonic() - killed_at
        # The lease (5 s, renewed by the heartbeat) ran out, not 120 s: within seconds.
        assert took < 10, f"the killed worker's messages moved after {took:.1f} s"
        assert second.terminate() == 0
        received = sink.received()
        assert set(received) == set(ids)
        # Only the sends in flight at the kill (its concurrency) may repeat, with one id.
        assert len(received) - len(ids) <= 2
        rows = await outbox_rows(app)
        assert Counter(row.status for row in rows) == {"sent": len(ids)}
        for attempt in await attempt_rows(app):
            if attempt.message_id in abandoned:  # recorded once, by the second worker
                assert (attempt.worker_id, attempt.attempt) == (second_id, 2)


async def test_the_heartbeat_keeps_a_send_slower_than_the_lease_from_a_second_worker(
    postgres_url: str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    sms_gateway: SmsEndpoint,
    workers: list[Worker],
) -> None:
    sink = sms_sink(sms_gateway)
    sms_gateway.delay = 8  # the gateway takes longer than the 5 s lease
    async with delivery_app(postgres_url, tmp_path, clock=SystemClock()) as app:
        for _ in range(2):
            workers.append(Worker(postgres_url, tmp_path, smtp_server, **SHORT_LEASE, **sink.env))
        for worker in workers:
            worker.wait_ready()
        ids = await queue_messages(app, Channel.SMS, [sink.destination(n) for n in range(3)])

        async def all_sent() -> bool:
            return {row.status for row in await outbox_rows(app)} == {"sent"}

        deadline = time.monotonic() + 40
        while not await all_sent():
            assert time.monotonic() < deadline, "the slow sends did not end"
            await asyncio.sleep(0.2)
        for worker in workers:
            assert worker.terminate() == 0
        assert sorted(sink.received()) == sorted(ids)  # each once: no second worker took it
        rows = await outbox_rows(app)
        assert {row.attempts for row in rows} == {1}  # never claimed a second time
        attempts = await attempt_rows(app)
        assert sorted(attempt.message_id for attempt in attempts) == sorted(ids)
        for attempt in attempts:
            assert attempt.outcome == "sent"
            assert (attempt.finished_at - attempt.started_at).total_seconds() > 7


async def test_a_worker_killed_mid_batch_leaves_its_messages_to_the_next(
    postgres_url: str, tmp_path: Path, smtp_server: SmtpServer, workers: list[Worker]
) -> None:
    smtp_server.inbox.delay = 0.1
    lease = {"SECINFO_DELIVERY_LEASE_SECONDS": "5", "SECINFO_DELIVERY_SEND_TIMEOUT_SECONDS": "2"}
    async with delivery_app(postgres_url, tmp_path, clock=SystemClock()) as app:
        ids = await queue_messages(app, Channel.EMAIL, [f"k{n}@example.com" for n in range(60)])
        first = Worker(
            postgres_url,
            tmp_path,
            smtp_server,
            SECINFO_DELIVERY_BATCH_SIZE="20",
            SECINFO_DELIVERY_CONCURRENCY="4",
            **lease,
        )
        workers.append(first)
        wait_until(lambda: smtp_server.inbox.count() >= 10, 30, "the first sends")
        first.kill()
        rows = await outbox_rows(app)
        abandoned = [row for row in rows if row.status == "sending"]
        assert abandoned, "the kill should land in the middle of a claimed batch"
        assert smtp_server.inbox.count() < 60

        second = Worker(postgres_url, tmp_path, smtp_server, **lease)
        workers.append(second)
        wait_until(
            lambda: set(smtp_server.inbox.message_ids()) >= expected_ids(ids),
            40,
            "every message at the SMTP server",
        )
        assert second.terminate() == 0
        received = smtp_server.inbox.message_ids()
        assert set(received) == expected_ids(ids)
        # At-least-once: only sends in flight at the kill (at most its concurrency) repeat.
        assert len(received) - len(ids) <= 4
        rows = await outbox_rows(app)
        assert {row.status for row in rows} == {"sent"}
        retaken = [row for row in rows if row.id in {a.id for a in abandoned}]
        assert all(row.attempts == 2 for row in retaken)


async def test_sigterm_finishes_the_sends_in_flight_and_gives_back_the_rest(
    postgres_url: str, tmp_path: Path, smtp_server: SmtpServer, workers: list[Worker]
) -> None:
    smtp_server.inbox.delay = 0.2
    async with delivery_app(postgres_url, tmp_path, clock=SystemClock()) as app:
        ids = await queue_messages(app, Channel.EMAIL, [f"t{n}@example.com" for n in range(40)])
        first = Worker(
            postgres_url,
            tmp_path,
            smtp_server,
            SECINFO_DELIVERY_BATCH_SIZE="40",
            SECINFO_DELIVERY_CONCURRENCY="2",
        )
        workers.append(first)
        wait_until(lambda: smtp_server.inbox.count() >= 4, 30, "the first sends")
        began = time.monotonic()
        assert first.terminate() == 0
        assert time.monotonic() - began < 5  # it did not work through the whole batch
        assert "stopped" in first.output

        rows = await outbox_rows(app)
        statuses = Counter(row.status for row in rows)
        assert statuses["sending"] == 0
        assert statuses["sent"] == smtp_server.inbox.count()
        assert statuses["queued"] == len(ids) - statuses["sent"] > 0
        assert {row.attempts for row in rows if row.status == "queued"} == {0}

        second = Worker(postgres_url, tmp_path, smtp_server, SECINFO_DELIVERY_CONCURRENCY="10")
        workers.append(second)
        wait_until(lambda: smtp_server.inbox.count() >= len(ids), 30, "the rest")
        assert second.terminate() == 0
        received = smtp_server.inbox.message_ids()
        assert sorted(received) == sorted(expected_ids(ids))  # each exactly once


async def test_two_workers_send_a_thousand_messages_exactly_once(
    postgres_url: str, tmp_path: Path, smtp_server: SmtpServer, workers: list[Worker]
) -> None:
    async with delivery_app(postgres_url, tmp_path, clock=SystemClock()) as app:
        for _ in range(2):
            workers.append(Worker(postgres_url, tmp_path, smtp_server))
        for worker in workers:
            worker.wait_ready()
        ids = await queue_messages(app, Channel.EMAIL, [f"m{n}@example.com" for n in range(1000)])
        wait_until(lambda: smtp_server.inbox.count() >= 1000, 50, "1,000 messages")
        for worker in workers:
            assert worker.terminate() == 0
        received = smtp_server.inbox.message_ids()
        assert len(received) == 1000
        assert set(received) == expected_ids(ids)
        rows = await outbox_rows(app)
        assert Counter(row.status for row in rows) == {"sent": 1000}
        attempts = await attempt_rows(app)
        assert len(attempts) == 1000
        assert len({attempt.worker_id for attempt in attempts}) == 2  # both took a share


async def test_a_queued_message_wakes_an_idle_worker_on_postgresql_at_once(
    postgres_url: str, tmp_path: Path, smtp_server: SmtpServer, workers: list[Worker]
) -> None:
    """LISTEN/NOTIFY: the outbox insert's commit wakes the worker; it does not wait for
    its next poll (30 s here)."""
    async with delivery_app(postgres_url, tmp_path, clock=SystemClock()) as app:
        worker = Worker(postgres_url, tmp_path, smtp_server, SECINFO_DELIVERY_POLL_SECONDS="30")
        workers.append(worker)
        worker.wait_ready()
        await asyncio.sleep(1)  # past its first look and the start of its listening
        for round_ in range(3):
            queued_at = time.monotonic()
            [message_id] = await queue_messages(app, Channel.EMAIL, [f"n{round_}@example.com"])
            expected = f"<{message_id}@{FROM_DOMAIN}>"
            wait_until(
                lambda expected=expected: expected in smtp_server.inbox.message_ids(),
                10,
                "the message, long before the next poll",
            )
            assert time.monotonic() - queued_at < 5
        assert worker.terminate() == 0
