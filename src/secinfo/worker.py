"""Outbox delivery: claim due messages, send them, record what happened.

Delivery is at-least-once: a worker that dies between sending and recording leaves the
message to be sent again once its lease runs out. Leases are short (15 s by default) and
a heartbeat renews them while the worker still holds the messages, so a dead worker's
messages move to another within seconds, and a send slower than the lease is never taken
over by a second worker. An outcome is only recorded by the worker that holds the claim
(its id and attempt), so a send that did outlive its lease is not recorded twice.

A claimed batch is sent with bounded concurrency; a send only starts while the heartbeat
keeps the lease. A stopping worker finishes the sends in flight and gives the rest back.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from secinfo import metrics
from secinfo.domain.contacts import Channel
from secinfo.domain.model import OutgoingMessage
from secinfo.ports import (
    Clock,
    DeliveryError,
    Holder,
    MessageSender,
    OutboxQueue,
    SentOutcome,
)

log = structlog.get_logger("secinfo.worker")


def new_worker_id() -> str:
    return f"{socket.gethostname()[:48]}-{random.getrandbits(32):08x}"


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=15)
    max_attempts: int = 8

    def next_delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: the step doubles from
        ``first_delay`` up to ``max_delay``, and a random half of it is taken off
        ("equal jitter") so workers that failed together do not retry together."""
        step = min(self.first_delay * (1 << min(max(attempts - 1, 0), 30)), self.max_delay)
        jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
        return step * jitter

    def retry_at(self, now: datetime, attempts: int, *, permanent: bool) -> datetime | None:
        """When to try again, or None: the message is dead."""
        if permanent or attempts >= self.max_attempts:
            return None
        return now + self.next_delay(attempts)


@dataclass
class Deliverer:
    queue: OutboxQueue
    senders: dict[Channel, MessageSender]
    clock: Clock
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # A channel's own retry budget, where it differs (webhooks retry for hours).
    retries: dict[Channel, RetryPolicy] = field(default_factory=dict)
    batch_size: int = 50
    lease_seconds: float = 15.0
    send_timeout: float = 60.0
    concurrency: int = 10
    worker_id: str = field(default_factory=lambda: new_worker_id())
    stopping: bool = False

    @property
    def heartbeat_seconds(self) -> float:
        """How often the leases of held messages are renewed: three times a lease, so one
        late or failed renewal still leaves a third of the lease."""
        return self.lease_seconds / 3

    async def deliver_due(self) -> int:
        """Deliver one batch; return how many messages were claimed."""
        if self.stopping:
            return 0
        claimed_at = time.monotonic()
        messages = await self.queue.claim_due(
            self.clock.now(), self.batch_size, self.lease_seconds, self.worker_id
        )
        if not messages:
            return 0
        lease = _Lease(held={message.id for message in messages})
        lease.renewed(claimed_at, self.lease_seconds)
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(lease))
        recorder = _Recorder(self.queue, lease.held)
        slots = asyncio.Semaphore(self.concurrency)
        given_back: list[str] = []

        async def one(message: OutgoingMessage) -> None:
            async with slots:
                # A send starts only while the lease has at least one heartbeat left: if
                # renewals fail, another worker may soon take the message over.
                if self.stopping or time.monotonic() > lease.until - self.heartbeat_seconds:
                    given_back.append(message.id)
                    lease.held.discard(message.id)
                    return
                sent = False
                try:
                    sent = await self.deliver(message, recorder)
                finally:
                    if not sent:  # a sent one is held until the recorder wrote it
                        lease.held.discard(message.id)

        try:
            await asyncio.gather(*(one(message) for message in messages))
            await recorder.drain()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if given_back:
            await self.queue.release(given_back, self.clock.now(), worker_id=self.worker_id)
            log.info("delivery.released", count=len(given_back), worker_id=self.worker_id)
        return len(messages)

    async def _heartbeat(self, lease: _Lease) -> None:
        """Renew the lease of the messages this worker still holds, until cancelled."""
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            held = sorted(lease.held)
            if not held:
                continue
            began = time.monotonic()
            until = self.clock.now() + timedelta(seconds=self.lease_seconds)
            try:
                renewed = await self.queue.extend_leases(held, self.worker_id, until)
            except Exception as error:  # the database away: sends in flight go on
                log.warning(
                    "delivery.heartbeat_failed",
                    worker_id=self.worker_id,
                    held=len(held),
                    error=type(error).__name__,
                )
                continue
            lease.renewed(began, self.lease_seconds)
            if renewed < len(held):
                # Ended meanwhile (recorded by a send that just finished), or taken over.
                log.debug("delivery.lease_renewed", held=len(held), renewed=renewed)

    async def deliver(self, message: OutgoingMessage, recorder: _Recorder | None = None) -> bool:
        """Send one message and record the outcome; True: sent (written by ``recorder``
        with others when there is one)."""
        started = self.clock.now()
        channel = message.channel.value
        if message.expires_at is not None and started >= message.expires_at:
            await self.queue.mark_expired(message.id, started, holder=self._holder(message))
            metrics.MESSAGES.labels(channel, "expired").inc()
            log.info("message.expired", message_id=message.id, channel=channel)
            return False
        sender = self.senders.get(message.channel)
        if sender is None:
            await self._failed(message, started, f"no sender for {channel}", permanent=True)
            return False
        began = time.monotonic()
        try:
            provider_id = await asyncio.wait_for(sender.send(message), self.send_timeout)
        except DeliveryError as error:
            await self._failed(message, started, str(error), permanent=error.permanent)
            return False
        except TimeoutError:
            error_text = f"send timed out after {self.send_timeout:g} s"
            await self._failed(message, started, error_text, permanent=False)
            return False
        except Exception as error:  # a sender bug must not stop the loop
            # Only the type: an exception's text may quote the message body.
            await self._failed(message, started, f"{type(error).__name__}", permanent=False)
            return False
        finally:
            metrics.SEND_SECONDS.labels(channel).observe(time.monotonic() - began)
        outcome = SentOutcome(
            message.id, provider_id, started, self.clock.now(), self._holder(message)
        )
        if recorder is None:
            await self.queue.mark_sent_many([outcome])
        else:
            await recorder.record(outcome)
        metrics.MESSAGES.labels(channel, "sent").inc()
        log.debug(
            "message.sent",
            message_id=message.id,
            channel=channel,
            attempt=message.attempts,
            provider_message_id=provider_id,
        )
        return True

    async def _failed(
        self, message: OutgoingMessage, started: datetime, error: str, *, permanent: bool
    ) -> None:
        now = self.clock.now()
        policy = self.retries.get(message.channel, self.retry)
        retry_at = policy.retry_at(now, message.attempts, permanent=permanent)
        await self.queue.mark_failed(
            message.id, now, error, retry_at, started_at=started, holder=self._holder(message)
        )
        outcome = "failed" if retry_at else "dead"
        metrics.MESSAGES.labels(message.channel.value, outcome).inc()
        log.warning(
            f"message.{outcome}",
            message_id=message.id,
            channel=message.channel.value,
            attempt=message.attempts,
            permanent=permanent,
            retry_at=retry_at.isoformat() if retry_at else None,
            error=error,
        )

    def _holder(self, message: OutgoingMessage) -> Holder:
        return Holder(self.worker_id, message.attempts)


class _Recorder:
    """Writes sent outcomes in groups: the first is written at once, those that end while
    a write runs go together in the next (one transaction each), so under load a batch
    is recorded in a few statements, and when idle nothing waits. A send waits for its
    outcome's write inside its concurrency slot, so sent-but-unrecorded messages (those a
    killed worker leaves to be sent again) never outnumber the concurrency."""

    def __init__(self, queue: OutboxQueue, held: set[str]) -> None:
        self.queue = queue
        self.held = held
        self.pending: list[SentOutcome] = []
        self.next_written: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    async def record(self, outcome: SentOutcome) -> None:
        """Return once the group with this outcome is written (or its write failed: the
        message stays ``sending`` and is sent again once its lease runs out)."""
        running = asyncio.get_running_loop()
        self.pending.append(outcome)
        if self.next_written is None:
            self.next_written = running.create_future()
        written = self.next_written
        if self.task is None or self.task.done():
            self.task = running.create_task(self._write_all())
        await asyncio.shield(written)

    async def _write_all(self) -> None:
        while self.pending:
            group, self.pending = self.pending, []
            written, self.next_written = self.next_written, None
            try:
                await self.queue.mark_sent_many(group)
            except Exception as error:  # left sending: sent again once the lease runs out
                log.warning("delivery.record_failed", count=len(group), error=type(error).__name__)
            finally:
                for outcome in group:
                    self.held.discard(outcome.message_id)
                if written is not None and not written.done():
                    written.set_result(None)

    async def drain(self) -> None:
        """Wait until every outcome added is written (or its write failed)."""
        while self.task is not None and not self.task.done():
            await asyncio.shield(self.task)


@dataclass
class _Lease:
    """A claimed batch: the messages still held, and until when (monotonic) the lease is
    surely ours (the last renewal's start plus the lease)."""

    held: set[str]
    until: float = 0.0

    def renewed(self, at: float, lease_seconds: float) -> None:
        self.until = at + lease_seconds


class DeliveryLoop:
    """Runs a Deliverer until stopped; woken early when a message is queued: by a request
    of this process, and on PostgreSQL by a notification from any process (LISTEN);
    otherwise it looks every ``idle_seconds``.

    Under load, after a wake-up it waits ``gather_seconds`` before claiming, so the
    messages queued by requests arriving together go in one claim and one outcome write
    instead of one each. It gathers only while the last claim found more than one
    message (messages come faster than it claims them): at a message at a time the wait
    would only delay the code.
    """

    def __init__(
        self, deliverer: Deliverer, idle_seconds: float = 1.0, gather_seconds: float = 0.0
    ) -> None:
        self.deliverer = deliverer
        self.idle_seconds = idle_seconds
        self.gather_seconds = gather_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        running = asyncio.get_running_loop()
        self._task = running.create_task(self.run())
        self._listener = running.create_task(self._listen())

    async def _listen(self) -> None:
        try:
            await self.deliverer.queue.listen(self.wake)
        except Exception:  # polling still delivers
            log.exception("delivery.listen_error")

    async def run(self) -> None:
        while not self._stopping:
            # Clear before looking: a wake-up that comes while a claim runs is not lost.
            self._wake.clear()
            try:
                claimed = await self.deliverer.deliver_due()
            except Exception:
                log.exception("delivery.loop_error")
                claimed = 0
            # A full batch may have left more behind: claim again at once. A partial one
            # emptied the queue as of its snapshot, and anything queued since has woken
            # us (the event was cleared before the claim), so wait instead of paying an
            # empty claim.
            if claimed >= self.deliverer.batch_size or self._stopping:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
            except TimeoutError:
                continue
            if self.gather_seconds and claimed > 1 and not self._stopping:
                await self._gather()

    async def _gather(self) -> None:
        """Let the wake-up's neighbours queue theirs; a stop cuts the wait short."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped(), self.gather_seconds)

    async def _stopped(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()

    async def stop(self) -> None:
        """Finish the sends in flight, give back the rest of the batch, then stop."""
        self._stopping = True
        self.deliverer.stopping = True
        self._wake.set()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._task is not None:
            await self._task
