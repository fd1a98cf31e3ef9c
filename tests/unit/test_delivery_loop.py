"""The in-process delivery loop never sleeps through a wake-up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from secinfo.worker import DeliveryLoop

pytestmark = pytest.mark.anyio


class PollingOnly:
    async def listen(self, wake: Any) -> None:
        return  # a store that cannot notify: the loop polls


class WakeDuringClaim:
    """A deliverer whose first claim finds nothing while a request queues a message."""

    def __init__(self) -> None:
        self.queue = PollingOnly()
        self.batch_size = 50
        self.calls = 0
        self.loop: DeliveryLoop | None = None
        self.stopping = False
        self.second_claim = asyncio.Event()

    async def deliver_due(self) -> int:
        self.calls += 1
        if self.calls == 1:
            assert self.loop is not None
            self.loop.wake()  # the commit lands just after this claim looked
        else:
            self.second_claim.set()
        return 0


async def test_a_wake_up_during_a_claim_is_not_lost() -> None:
    deliverer: Any = WakeDuringClaim()
    loop = DeliveryLoop(deliverer, idle_seconds=30)
    deliverer.loop = loop
    loop.start()
    try:
        await asyncio.wait_for(deliverer.second_claim.wait(), timeout=2)
    finally:
        await loop.stop()
    assert deliverer.calls >= 2


class Claims:
    """A deliverer that claims what it is told to, and records when it was asked."""

    def __init__(self, batch_size: int, results: list[int]) -> None:
        self.queue = PollingOnly()
        self.batch_size = batch_size
        self.stopping = False
        self.results = results
        self.calls = 0
        self.done = asyncio.Event()

    async def deliver_due(self) -> int:
        self.calls += 1
        if self.calls >= len(self.results):
            self.done.set()
        return self.results[self.calls - 1] if self.calls <= len(self.results) else 0


async def test_a_full_batch_is_followed_by_another_claim_at_once() -> None:
    deliverer: Any = Claims(batch_size=3, results=[3, 3, 1])
    loop = DeliveryLoop(deliverer, idle_seconds=30)
    loop.start()
    try:
        await asyncio.wait_for(deliverer.done.wait(), timeout=2)
    finally:
        await loop.stop()
    assert deliverer.calls == 3


async def test_a_partial_batch_waits_for_a_wake_up_instead_of_claiming_an_empty_queue() -> None:
    deliverer: Any = Claims(batch_size=3, results=[2, 1])
    loop = DeliveryLoop(deliverer, idle_seconds=30)
    loop.start()
    try:
        await asyncio.sleep(0.2)
        assert deliverer.calls == 1  # the queue was drained: no empty claim follows
        loop.wake()  # a message is queued
        await asyncio.wait_for(deliverer.done.wait(), timeout=2)
    finally:
        await loop.stop()
    assert deliverer.calls == 2


class Timed:
    """A deliverer that records when each claim starts; each finds ``found`` messages."""

    def __init__(self, found: int) -> None:
        self.queue = PollingOnly()
        self.batch_size = 50
        self.stopping = False
        self.found = found
        self.claims: list[float] = []
        self.claimed = asyncio.Event()

    async def deliver_due(self) -> int:
        self.claims.append(asyncio.get_running_loop().time())
        self.claimed.set()
        return self.found


async def test_under_load_the_loop_gathers_after_a_wake_up_before_it_claims() -> None:
    deliverer: Any = Timed(found=3)  # messages come faster than one a claim
    loop = DeliveryLoop(deliverer, idle_seconds=30, gather_seconds=0.15)
    loop.start()
    try:
        await asyncio.wait_for(deliverer.claimed.wait(), timeout=2)  # the first look
        deliverer.claimed.clear()
        woken = asyncio.get_running_loop().time()
        loop.wake()
        for _ in range(5):  # more requests queue theirs meanwhile: still one claim
            await asyncio.sleep(0.01)
            loop.wake()
        await asyncio.wait_for(deliverer.claimed.wait(), timeout=2)
        await asyncio.sleep(0.2)
    finally:
        await loop.stop()
    assert len(deliverer.claims) == 2
    assert deliverer.claims[1] - woken >= 0.15


async def test_a_message_at_a_time_is_claimed_at_once_without_gathering() -> None:
    deliverer: Any = Timed(found=1)
    loop = DeliveryLoop(deliverer, idle_seconds=30, gather_seconds=5)
    loop.start()
    try:
        await asyncio.wait_for(deliverer.claimed.wait(), timeout=2)
        deliverer.claimed.clear()
        loop.wake()
        await asyncio.wait_for(deliverer.claimed.wait(), timeout=1)  # not 5 s later
    finally:
        await loop.stop()
    assert len(deliverer.claims) == 2


async def test_a_stop_cuts_the_gathering_short() -> None:
    deliverer: Any = Timed(found=2)
    loop = DeliveryLoop(deliverer, idle_seconds=30, gather_seconds=30)
    loop.start()
    await asyncio.wait_for(deliverer.claimed.wait(), timeout=2)
    loop.wake()
    await asyncio.sleep(0.01)  # gathering now
    await asyncio.wait_for(loop.stop(), timeout=2)
