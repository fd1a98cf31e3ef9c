"""Outbox delivery: claim due messages, send them, record what happened.

Delivery is at-least-once: a worker that dies between sending and recording leaves the
message to be sent again once its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from secinfo.domain.contacts import Channel
from secinfo.domain.model import OutgoingMessage
from secinfo.ports import Clock, DeliveryError, MessageSender, OutboxQueue

log = structlog.get_logger("secinfo.worker")


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{random.getrandbits(32):08x}"


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=15)
    max_attempts: int = 8

    def next_delay(self, attempts: int) -> timedelta:
        """Exponential backoff with full jitter between half and all of the step."""
        step = min(self.first_delay * (1 << min(max(attempts - 1, 0), 20)), self.max_delay)
        jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
        return step * jitter


@dataclass
class Deliverer:
    queue: OutboxQueue
    senders: dict[Channel, MessageSender]
    clock: Clock
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = 50
    lease_seconds: float = 60.0
    worker_id: str = field(default_factory=lambda: new_worker_id())

    async def deliver_due(self) -> int:
        """Deliver one batch; return how many messages were claimed."""
        messages = await self.queue.claim_due(
            self.clock.now(), self.batch_size, self.lease_seconds, self.worker_id
        )
        for message in messages:
            await self.deliver(message)
        return len(messages)

    async def deliver(self, message: OutgoingMessage) -> None:
        now = self.clock.now()
        if message.expires_at is not None and now >= message.expires_at:
            await self.queue.mark_expired(message.id, now)
            log.info("message.expired", message_id=message.id, channel=message.channel.value)
            return
        sender = self.senders[message.channel]
        try:
            provider_id = await sender.send(message)
        except DeliveryError as error:
            await self._failed(message, str(error), permanent=error.permanent)
            return
        except Exception as error:  # a sender bug must not stop the loop
            await self._failed(message, f"{type(error).__name__}: {error}", permanent=False)
            return
        await self.queue.mark_sent(message.id, self.clock.now(), provider_id)
        log.info("message.sent", message_id=message.id, channel=message.channel.value)

    async def _failed(self, message: OutgoingMessage, error: str, *, permanent: bool) -> None:
        now = self.clock.now()
        retry_at = None
        if not permanent and message.attempts < self.retry.max_attempts:
            retry_at = now + self.retry.next_delay(message.attempts)
        await self.queue.mark_failed(message.id, now, error, retry_at)
        log.warning(
            "message.failed",
            message_id=message.id,
            channel=message.channel.value,
            attempts=message.attempts,
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
            try:
                claimed = await self.deliverer.deliver_due()
            except Exception:
                log.exception("delivery.loop_error")
                claimed = 0
            if claimed:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)

    async def stop(self) -> None:
        """Finish the batch in flight, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
