"""The ``limits`` adapter: clearing a counter while the memory store expires events, and
keys that name no contact."""

from __future__ import annotations

import asyncio
import time

import pytest
from limits.aio.storage import MemoryStorage

from secinfo.adapters.ratelimit.limiter import (
    ClearSafeMemoryStorage,
    LimitsRateLimiter,
    memory_limiter,
)
from secinfo.domain.errors import TooManyRequests
from secinfo.domain.limits import DEFAULT_LIMITS

SECRET = b"unit-test-secret-" + b"x" * 32


async def clear_during_expiry(limiter: LimitsRateLimiter) -> asyncio.Task[None]:
    """Two failure counters; the store's expiry task starts on the first and, while it
    waits for its thread, a right code clears the second."""
    await limiter.hit("code.check.failures", "destination:first@example.com")
    await limiter.hit("code.check.failures", "destination:second@example.com")
    timer = limiter.storage.timer  # type: ignore[attr-defined]
    assert timer is not None and not timer.done()
    await asyncio.sleep(0)  # the expiry task takes its snapshot and awaits a thread
    await limiter.clear("code.check.failures", "destination:second@example.com")
    await asyncio.wait([timer], timeout=5)
    assert timer.done()
    return timer  # type: ignore[no-any-return]


@pytest.mark.anyio
async def test_a_cleared_counter_does_not_break_the_memory_stores_expiry() -> None:
    limiter = memory_limiter(DEFAULT_LIMITS, key_secret=SECRET)
    storage = limiter.storage
    assert isinstance(storage, ClearSafeMemoryStorage)
    await limiter.hit("code.check.failures", "destination:first@example.com")
    await limiter.hit("code.check.failures", "destination:second@example.com")
    await limiter.clear("code.check.failures", "destination:second@example.com")

    storage.expire(time.time())  # the cleared key's empty list is dropped, no error

    assert len(storage.events) == 1
    storage.expire(time.time() + 2 * 86400)  # past the longest window: all gone
    assert storage.events == {} and storage.locks == {}
    await limiter.hit("code.check.failures", "destination:first@example.com")
    assert len(storage.events) == 1  # and counting goes on


@pytest.mark.anyio
async def test_the_memory_stores_expiry_runs_on_the_loop_once_a_second_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_threads(*_: object, **__: object) -> None:
        raise AssertionError("the expiry must not hand keys to threads")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    limiter = memory_limiter(DEFAULT_LIMITS, key_secret=SECRET)
    storage = limiter.storage
    assert isinstance(storage, ClearSafeMemoryStorage)
    passes = 0
    real_expire = storage.expire

    def counted(now: float) -> None:
        nonlocal passes
        passes += 1
        real_expire(now)

    monkeypatch.setattr(storage, "expire", counted)
    for index in range(200):
        await limiter.hit("code.send.destination", f"person{index}@example.com")
    assert passes == 1  # 200 hits inside one second: one pass
    # Nothing expired yet: every count (one per rate of the limit) still holds.
    assert len(storage.events) == 200 * len(limiter.items["code.send.destination"])
    with pytest.raises(TooManyRequests):
        for _ in range(20):
            await limiter.hit("code.send.destination", "person0@example.com")


@pytest.mark.anyio
async def test_the_plain_memory_storage_has_the_race_this_adapter_works_around() -> None:
    """If ``limits`` fixes its expiry task, this fails: drop ClearSafeMemoryStorage then."""
    limiter = LimitsRateLimiter(MemoryStorage(), DEFAULT_LIMITS, key_secret=SECRET)
    timer = await clear_during_expiry(limiter)
    assert isinstance(timer.exception(), KeyError)


@pytest.mark.anyio
async def test_limiter_keys_are_keyed_hashes_not_contacts() -> None:
    limiter = memory_limiter(DEFAULT_LIMITS, key_secret=SECRET)
    await limiter.hit("code.send.destination", "victim@example.com")
    await limiter.hit("code.check.failures", "destination:+14155550189")
    await limiter.incr("pump/+1415/sends", 60)
    storage = limiter.storage
    keys = " ".join([*storage.events, *storage.storage])  # type: ignore[attr-defined]
    assert keys
    for secret in ("victim", "example.com", "4155550189", "+1415"):
        assert secret not in keys
    other = memory_limiter(DEFAULT_LIMITS, key_secret=b"another-secret-" + b"y" * 32)
    await other.hit("code.send.destination", "victim@example.com")
    assert set(other.storage.events).isdisjoint(storage.events)  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_hashed_keys_still_count_and_clear_per_key() -> None:
    limiter = memory_limiter(
        {"code.check.failures": DEFAULT_LIMITS["code.check.failures"]}, key_secret=SECRET
    )
    for _ in range(3):
        await limiter.hit("code.check.failures", "a")
    await limiter.hit("code.check.failures", "b")
    item = limiter.items["code.check.failures"][0]
    window_a = await limiter.strategy.get_window_stats(
        item, "code.check.failures", limiter._hash("a")
    )
    assert window_a.remaining == item.amount - 3
    await limiter.clear("code.check.failures", "a")
    window_a = await limiter.strategy.get_window_stats(
        item, "code.check.failures", limiter._hash("a")
    )
    window_b = await limiter.strategy.get_window_stats(
        item, "code.check.failures", limiter._hash("b")
    )
    assert window_a.remaining == item.amount
    assert window_b.remaining == item.amount - 1
