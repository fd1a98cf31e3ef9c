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
