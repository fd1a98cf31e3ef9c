"""Outbox delivery: claim due messages, send them, record what happened.

Delivery is at-least-once: a worker that dies between sending and recording leaves the
message to be sent again once its lease runs out. A claimed batch is sent with bounded
concurrency; a message is only started while its lease still covers a whole send
(``send_timeout``), so a slow batch never overlaps another worker's claim of the same
rows. A stopping worker finishes the sends in flight and gives the rest back.
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
from secinfo.ports import Clock, DeliveryError, MessageSender, OutboxQueue

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
    lease_seconds: float = 120.0
    send_timeout: float = 60.0
    concurrency: int = 10
    worker_id: str = field(default_factory=lambda: new_worker_id())
    stopping: bool = False

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
        # The last moment a send may start and still end inside the lease.
        start_by = claimed_at + self.lease_seconds - self.send_timeout
        slots = asyncio.Semaphore(self.concurrency)
        given_back: list[str] = []

        async def one(message: OutgoingMessage) -> None:
            async with slots:
                if self.stopping or time.monotonic() > start_by:
                    given_back.append(message.id)
                    return
                await self.deliver(message)

        await asyncio.gather(*(one(message) for message in messages))
        if given_back:
            await self.queue.release(given_back, self.clock.now())
            log.info("delivery.released", count=len(given_back), worker_id=self.worker_id)
        return len(messages)

    async def deliver(self, message: OutgoingMessage) -> None:
        started = self.clock.now()
        channel = message.channel.value
        if message.expires_at is not None and started >= message.expires_at:
            await self.queue.mark_expired(message.id, started)
            metrics.MESSAGES.labels(channel, "expired").inc()
            log.info("message.expired", message_id=message.id, channel=channel)
            return
        sender = self.senders.get(message.channel)
        if sender is None:
            await self._failed(message, started, f"no sender for {channel}", permanent=True)
            return
        began = time.monotonic()
        try:
            provider_id = await asyncio.wait_for(sender.send(message), self.send_timeout)
        except DeliveryError as error:
            await self._failed(message, started, str(error), permanent=error.permanent)
            return
        except TimeoutError:
            error_text = f"send timed out after {self.send_timeout:g} s"
            await self._failed(message, started, error_text, permanent=False)
            return
        except Exception as error:  # a sender bug must not stop the loop
            # Only the type: an exception's text may quote the message body.
            await self._failed(message, started, f"{type(error).__name__}", permanent=False)
            return
        finally:
            metrics.SEND_SECONDS.labels(channel).observe(time.monotonic() - began)
        await self.queue.mark_sent(message.id, self.clock.now(), provider_id, started_at=started)
        metrics.MESSAGES.labels(channel, "sent").inc()
        log.debug(
            "message.sent",
            message_id=message.id,
            channel=channel,
            attempt=message.attempts,
            provider_message_id=provider_id,
        )

    async def _failed(
        self, message: OutgoingMessage, started: datetime, error: str, *, permanent: bool
    ) -> None:
        now = self.clock.now()
        policy = self.retries.get(message.channel, self.retry)
        retry_at = policy.retry_at(now, message.attempts, permanent=permanent)
        await self.queue.mark_failed(message.id, now, error, retry_at, started_at=started)
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


class DeliveryLoop:
    """Runs a Deliverer until stopped; woken early when a request queues a message."""

    def __init__(self, deliverer: Deliverer, idle_seconds: float = 1.0) -> None:
        self.deliverer = deliverer
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while not self._stopping:
            # Clear before looking: a wake-up that comes while a claim runs is not lost.
            self._wake.clear()
            try:
                claimed = await self.deliverer.deliver_due()
            except Exception:
                log.exception("delivery.loop_error")
                claimed = 0
            if claimed or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)

    async def stop(self) -> None:
        """Finish the sends in flight, give back the rest of the batch, then stop."""
        self._stopping = True
        self.deliverer.stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
