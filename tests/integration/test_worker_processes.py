"""``secinfo worker`` as real processes on PostgreSQL, sending to a real SMTP server:
killed mid-batch, stopped with SIGTERM, and two of them sharing 1,000 messages."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from secinfo.adapters.clock import SystemClock
from secinfo.domain.contacts import Channel
from tests.delivery_support import (
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


def expected_ids(ids: list[str]) -> set[str]:
    return {f"<{message_id}@{FROM_DOMAIN}>" for message_id in ids}


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
