"""The retry policy and the Deliverer's decisions, on an in-memory outbox queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from tests.support import MovableClock

from secinfo.domain.contacts import Channel
from secinfo.domain.model import MessageStatus, OutgoingMessage
from secinfo.ports import DeliveryError, Holder, SentOutcome
from secinfo.worker import Deliverer, RetryPolicy

pytestmark = pytest.mark.anyio
START = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts", "step"),
    [(1, 5), (2, 10), (3, 20), (4, 40), (5, 80), (8, 640), (9, 900), (40, 900)],
)
def test_backoff_doubles_from_five_seconds_up_to_fifteen_minutes(attempts: int, step: int) -> None:
    policy = RetryPolicy()
    delays = [policy.next_delay(attempts).total_seconds() for _ in range(200)]
    assert all(step * 0.5 <= delay <= step for delay in delays)
    assert len(set(delays)) > 150  # jittered, not one value


def test_jitter_spreads_retries_over_the_upper_half_of_the_step() -> None:
    policy = RetryPolicy(first_delay=timedelta(seconds=100))
    delays = sorted(policy.next_delay(1).total_seconds() for _ in range(1000))
    assert delays[0] < 55 and delays[-1] > 95


def test_no_retry_after_the_last_attempt_or_a_permanent_failure() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.retry_at(START, 2, permanent=False) is not None
    assert policy.retry_at(START, 3, permanent=False) is None
    assert policy.retry_at(START, 1, permanent=True) is None


@dataclass
class MemoryQueue:
    """The OutboxQueue port in memory: enough to watch the Deliverer's decisions."""

    messages: dict[str, OutgoingMessage] = field(default_factory=dict)
    events: list[tuple[str, str, object]] = field(default_factory=list)
    renewals: list[list[str]] = field(default_factory=list)
    writes: list[int] = field(default_factory=list)  # outcomes per mark_sent_many
    heartbeat_error: Exception | None = None

    async def claim_due(
        self, now: datetime, limit: int, lease_seconds: float, worker_id: str
    ) -> list[OutgoingMessage]:
        due = [
            m
            for m in self.messages.values()
            if m.status in (MessageStatus.QUEUED, MessageStatus.FAILED)
            and m.next_attempt_at is not None
            and m.next_attempt_at <= now
        ][:limit]
        for message in due:
            message.status = MessageStatus.SENDING
            message.attempts += 1
        return [replace(message) for message in due]

    async def listen(self, wake: Callable[[], None]) -> None:
        return

    async def extend_leases(
        self, message_ids: list[str], worker_id: str, lease_until: datetime
    ) -> int:
        if self.heartbeat_error is not None:
            raise self.heartbeat_error
        self.renewals.append(list(message_ids))
        return len(message_ids)

    async def mark_sent(
        self,
        message_id: str,
        now: datetime,
        provider_message_id: str,
        *,
        started_at: datetime | None = None,
        holder: Holder | None = None,
    ) -> None:
        self.messages[message_id].status = MessageStatus.SENT
        self.events.append(("sent", message_id, provider_message_id))

    async def mark_sent_many(self, outcomes: list[SentOutcome]) -> set[str]:
        self.writes.append(len(outcomes))
        await asyncio.sleep(0.01)  # a write takes a while: outcomes pile up meanwhile
        for outcome in outcomes:
            await self.mark_sent(
                outcome.message_id, outcome.finished_at, outcome.provider_message_id
            )
        return {outcome.message_id for outcome in outcomes}

    async def mark_failed(
        self,
        message_id: str,
        now: datetime,
        error: str,
        retry_at: datetime | None,
        *,
        started_at: datetime | None = None,
        holder: Holder | None = None,
    ) -> None:
        message = self.messages[message_id]
        message.status = MessageStatus.DEAD if retry_at is None else MessageStatus.FAILED
        message.next_attempt_at = retry_at
        message.last_error = error
        self.events.append((message.status.value, message_id, error))

    async def mark_expired(
        self, message_id: str, now: datetime, *, holder: Holder | None = None
    ) -> None:
        self.messages[message_id].status = MessageStatus.EXPIRED
        self.events.append(("expired", message_id, None))

    async def release(
        self, message_ids: list[str], now: datetime, *, worker_id: str | None = None
    ) -> None:
        for message_id in message_ids:
            message = self.messages[message_id]
            message.status = MessageStatus.QUEUED
            message.attempts -= 1
            self.events.append(("released", message_id, None))


@dataclass
class ScriptedSender:
    outcomes: list[BaseException | str]
    delay: float = 0.0
    sent: list[str] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    async def send(self, message: OutgoingMessage) -> str:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        self.sent.append(message.id)
        return f"provider-{message.id}"


def message(message_id: str, clock: MovableClock, **fields: object) -> OutgoingMessage:
    now = clock.now()
    values: dict[str, object] = {
        "id": message_id,
        "channel": Channel.SMS,
        "destination": "+14155550100",
        "template": "code_integrator",
        "locale": "en",
        "subject": "",
        "body": "secinfo: 123456 is your code",
        "created_at": now,
        "next_attempt_at": now,
        "expires_at": now + timedelta(minutes=10),
        **fields,
    }
    return OutgoingMessage(**values)  # type: ignore[arg-type]


def deliverer(
    queue: MemoryQueue, sender: ScriptedSender, clock: MovableClock, **options: object
) -> Deliverer:
    return Deliverer(
        queue=queue,
        senders={Channel.SMS: sender},
        clock=clock,
        retry=RetryPolicy(max_attempts=3),
        **options,  # type: ignore[arg-type]
    )


async def test_transient_failures_retry_then_the_message_is_dead_with_its_last_error() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({"m1": message("m1", clock)})
    sender = ScriptedSender([DeliveryError("HTTP 503")] * 2 + [DeliveryError("HTTP 502")])
    worker = deliverer(queue, sender, clock)
    for _ in range(3):
        assert await worker.deliver_due() == 1
        assert await worker.deliver_due() == 0  # the retry is in the future
        clock.advance(minutes=1)
    assert [event[0] for event in queue.events] == ["failed", "failed", "dead"]
    assert queue.messages["m1"].last_error == "HTTP 502"


async def test_a_permanent_failure_is_dead_at_once() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({"m1": message("m1", clock)})
    worker = deliverer(queue, ScriptedSender([DeliveryError("HTTP 400", permanent=True)]), clock)
    await worker.deliver_due()
    assert queue.events == [("dead", "m1", "HTTP 400")]


async def test_a_sender_bug_is_retried_and_its_text_is_not_recorded() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({"m1": message("m1", clock)})
    bug = ValueError("could not encode 'secinfo: 123456 is your code'")
    await deliverer(queue, ScriptedSender([bug]), clock).deliver_due()
    assert queue.events == [("failed", "m1", "ValueError")]


async def test_a_slow_send_times_out_and_is_retried() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({"m1": message("m1", clock)})
    worker = deliverer(queue, ScriptedSender([], delay=1.0), clock, send_timeout=0.05)
    await worker.deliver_due()
    assert queue.events == [("failed", "m1", "send timed out after 0.05 s")]


async def test_an_expired_code_is_not_sent() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({"m1": message("m1", clock, expires_at=START)})
    sender = ScriptedSender([])
    await deliverer(queue, sender, clock).deliver_due()
    assert queue.events == [("expired", "m1", None)]
    assert sender.sent == []


async def test_a_batch_is_sent_concurrently_within_the_limit() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({f"m{n}": message(f"m{n}", clock) for n in range(20)})
    sender = ScriptedSender([], delay=0.1)
    worker = deliverer(queue, sender, clock, concurrency=10, batch_size=20)
    assert await worker.deliver_due() == 20
    assert len(sender.sent) == 20
    # Counted, not timed: ten at once (so not one after another), never more than ten.
    assert sender.most_in_flight == 10


async def test_sent_outcomes_are_written_in_groups_and_all_before_the_batch_ends() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({f"m{n}": message(f"m{n}", clock) for n in range(40)})
    sender = ScriptedSender([], delay=0.001)
    worker = deliverer(queue, sender, clock, concurrency=10, batch_size=40)
    assert await worker.deliver_due() == 40
    assert sorted(e[1] for e in queue.events if e[0] == "sent") == sorted(queue.messages)
    assert sum(queue.writes) == 40
    assert len(queue.writes) <= 8  # not one write per message
    assert queue.writes[0] <= 10  # the first write takes what ended before it began


async def test_a_stopping_worker_gives_back_what_it_has_not_started() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({f"m{n}": message(f"m{n}", clock) for n in range(6)})
    sender = ScriptedSender([], delay=0.2)
    worker = deliverer(queue, sender, clock, concurrency=2, batch_size=6)
    task = asyncio.create_task(worker.deliver_due())
    await asyncio.sleep(0.05)  # two sends in flight
    worker.stopping = True
    await task
    assert sorted(sender.sent) == ["m0", "m1"]
    released = sorted(event[1] for event in queue.events if event[0] == "released")
    assert released == ["m2", "m3", "m4", "m5"]
    assert {queue.messages[f"m{n}"].attempts for n in range(2, 6)} == {0}


async def test_the_heartbeat_keeps_the_lease_of_a_batch_that_outlasts_it() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({f"m{n}": message(f"m{n}", clock) for n in range(4)})
    sender = ScriptedSender([], delay=0.2)
    # lease 0.3 s (renewed every 0.1 s), four sends of 0.2 s one after another: 0.8 s.
    worker = deliverer(
        queue, sender, clock, concurrency=1, batch_size=4, lease_seconds=0.3, send_timeout=1
    )
    await worker.deliver_due()
    assert sender.sent == ["m0", "m1", "m2", "m3"]
    assert not [event for event in queue.events if event[0] == "released"]
    assert len(queue.renewals) >= 5
    # Only the messages still held are renewed: fewer each time, never one already sent.
    assert queue.renewals[0] == ["m0", "m1", "m2", "m3"]
    assert [len(ids) for ids in queue.renewals] == sorted(
        (len(ids) for ids in queue.renewals), reverse=True
    )
    assert all("m0" not in ids for ids in queue.renewals[3:])


async def test_no_send_starts_once_the_heartbeat_could_not_renew_the_lease() -> None:
    clock = MovableClock(START)
    queue = MemoryQueue({f"m{n}": message(f"m{n}", clock) for n in range(4)})
    queue.heartbeat_error = ConnectionError("database away")
    sender = ScriptedSender([], delay=0.2)
    # lease 0.45 s, renewals failing: sends may start while 0.15 s of it is left, so
    # during the first 0.3 s: the first two sends only.
    worker = deliverer(
        queue, sender, clock, concurrency=1, batch_size=4, lease_seconds=0.45, send_timeout=1
    )
    await worker.deliver_due()
    assert sender.sent == ["m0", "m1"]
    assert sorted(e[1] for e in queue.events if e[0] == "released") == ["m2", "m3"]
