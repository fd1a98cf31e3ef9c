"""Leases on the outbox (SQLite and PostgreSQL): the heartbeat renews only what its worker
still holds, and only the claim that holds a message records an outcome, so a send that
outlived its lease is not recorded twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from secinfo.adapters.sql.outbox_queue import SqlOutboxQueue
from secinfo.bootstrap import App
from secinfo.domain.contacts import Channel
from secinfo.ports import Holder, SentOutcome
from tests.delivery_support import attempt_rows, delivery_app, outbox_rows, queue_messages
from tests.support import MovableClock

pytestmark = pytest.mark.anyio
LEASE = 15


def sql_queue(app: App) -> SqlOutboxQueue:
    queue = app.deliverer.queue
    assert isinstance(queue, SqlOutboxQueue)
    return queue


async def test_a_send_that_outlived_its_lease_is_recorded_once_by_the_new_holder(
    database_url: str, tmp_path: Path
) -> None:
    clock = MovableClock()
    async with delivery_app(database_url, tmp_path, clock=clock) as app:
        queue = sql_queue(app)
        [message_id] = await queue_messages(app, Channel.EMAIL, ["lease@example.com"])
        [claimed] = await queue.claim_due(clock.now(), 10, LEASE, "worker-a")
        assert claimed.attempts == 1

        # The heartbeat: only the holder renews, and only what is still sending.
        renewed_until = clock.now() + timedelta(seconds=LEASE)
        assert await queue.extend_leases([message_id], "worker-b", renewed_until) == 0
        clock.advance(seconds=10)
        assert await queue.claim_due(clock.now(), 10, LEASE, "worker-b") == []
        assert (
            await queue.extend_leases(
                [message_id], "worker-a", clock.now() + timedelta(seconds=LEASE)
            )
            == 1
        )
        clock.advance(seconds=10)  # past the first lease, inside the renewed one
        assert await queue.claim_due(clock.now(), 10, LEASE, "worker-b") == []

        clock.advance(seconds=LEASE)  # worker-a stopped renewing: its lease ran out
        [taken] = await queue.claim_due(clock.now(), 10, LEASE, "worker-b")
        assert taken.attempts == 2
        # worker-a's send ends now: it no longer holds the message, nothing is recorded.
        await queue.mark_sent(
            message_id, clock.now(), "late-a", started_at=clock.now(), holder=Holder("worker-a", 1)
        )
        assert await queue.extend_leases([message_id], "worker-a", clock.now()) == 0
        [row] = await outbox_rows(app)
        assert (row.status, row.worker_id, row.attempts) == ("sending", "worker-b", 2)
        assert await attempt_rows(app, message_id) == []

        await queue.mark_sent(
            message_id, clock.now(), "sent-b", started_at=clock.now(), holder=Holder("worker-b", 2)
        )
        [row] = await outbox_rows(app)
        assert (row.status, row.provider_message_id, row.body) == ("sent", "sent-b", "")
        [attempt] = await attempt_rows(app, message_id)
        assert (attempt.worker_id, attempt.attempt, attempt.outcome) == ("worker-b", 2, "sent")
        # A late failure report of the old claim changes nothing either.
        await queue.mark_failed(
            message_id, clock.now(), "SMTP 451", None, holder=Holder("worker-a", 1)
        )
        [row] = await outbox_rows(app)
        assert row.status == "sent"
        assert len(await attempt_rows(app, message_id)) == 1


async def test_a_stopping_worker_gives_back_only_what_it_holds(
    database_url: str, tmp_path: Path
) -> None:
    clock = MovableClock()
    async with delivery_app(database_url, tmp_path, clock=clock) as app:
        queue = sql_queue(app)
        [message_id] = await queue_messages(app, Channel.EMAIL, ["back@example.com"])
        await queue.claim_due(clock.now(), 10, LEASE, "worker-a")
        clock.advance(seconds=LEASE + 1)
        await queue.claim_due(clock.now(), 10, LEASE, "worker-b")
        await queue.release([message_id], clock.now(), worker_id="worker-a")
        [row] = await outbox_rows(app)
        assert (row.status, row.worker_id, row.attempts) == ("sending", "worker-b", 2)
        await queue.release([message_id], clock.now(), worker_id="worker-b")
        [row] = await outbox_rows(app)
        assert (row.status, row.worker_id, row.attempts) == ("queued", None, 1)


async def test_a_batch_of_sent_outcomes_records_only_what_each_claim_still_holds(
    database_url: str, tmp_path: Path
) -> None:
    clock = MovableClock()
    async with delivery_app(database_url, tmp_path, clock=clock) as app:
        queue = sql_queue(app)
        ids = await queue_messages(app, Channel.SMS, [f"+1415555010{n}" for n in range(3)])
        await queue.claim_due(clock.now(), 10, LEASE, "worker-a")
        clock.advance(seconds=LEASE + 1)  # worker-a's lease ran out
        [taken] = await queue.claim_due(clock.now(), 1, LEASE, "worker-b")
        started, finished = clock.now(), clock.now() + timedelta(seconds=1)
        outcomes = [
            SentOutcome(message_id, f"SM-a-{message_id}", started, finished, Holder("worker-a", 1))
            for message_id in ids
        ] + [SentOutcome(taken.id, "SM-b", started, finished, Holder("worker-b", 2))]
        recorded = await queue.mark_sent_many(outcomes)
        assert recorded == set(ids)  # a's for the other two, b's for the one it took
        rows = {row.id: row for row in await outbox_rows(app)}
        assert {row.status for row in rows.values()} == {"sent"}
        assert rows[taken.id].provider_message_id == "SM-b"
        assert rows[taken.id].sent_at == finished
        assert all(row.body == "" for row in rows.values())  # the codes are wiped
        attempts = await attempt_rows(app)
        assert sorted((a.message_id, a.worker_id, a.attempt) for a in attempts) == sorted(
            [(i, "worker-a", 1) for i in ids if i != taken.id] + [(taken.id, "worker-b", 2)]
        )
        assert await queue.mark_sent_many(outcomes) == set()  # nothing is recorded twice
        assert len(await attempt_rows(app)) == 3
