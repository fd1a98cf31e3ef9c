"""Rate limits on the ``limits`` library: in memory (one process) or Redis (shared).

Limits count per destination, account, network or sign-in name; the store never sees
those in clear. Every key is replaced by a keyed hash (HMAC-SHA256 with a key derived
from the server secret), so a key that ends up in a log line, a traceback or a Redis
dump names no contact.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import time
from collections.abc import Callable

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from secinfo import metrics
from secinfo.domain.errors import RateLimiterUnavailable, TooManyRequests
from secinfo.domain.limits import Category, NamedLimit

log = structlog.get_logger("secinfo.ratelimit")


class ClearSafeMemoryStorage(MemoryStorage):
    """``limits``' memory storage, with a cheap expiry and a ``clear`` it survives.

    The library's expiry task (``MemoryStorage.__expire_events``) starts again after
    every hit once the previous pass has ended, and each pass hands *every* key to a
    thread (``asyncio.to_thread`` for one ``bisect``) under its lock. Keys pile up with
    traffic (one per destination, network, name, …, kept for the longest window), so
    under load the passes never stop and a thread hop per key competes with the
    requests for the event loop and the GIL: at 30 verifications a second it cost most
    of the in-process throughput (bench/RESULTS.md, 2026-12-03). Expiry only frees
    memory (every count compares times itself), so here a pass runs at most once per
    ``EXPIRY_INTERVAL_SECONDS``, on the event loop without awaiting (nothing can
    interleave, so no locks are needed), and drops emptied keys.

    The library's ``clear`` popped a key the old task might read next (``KeyError``,
    logged as "Task exception was never retrieved"); a pass without awaits cannot be
    interrupted by one, and a cleared key keeps an empty list, dropped by the next pass.
    """

    EXPIRY_INTERVAL_SECONDS = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._next_expiry = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.time()
        if now >= self._next_expiry:
            self._next_expiry = now + self.EXPIRY_INTERVAL_SECONDS
            self.expire(now)

    def expire(self, now: float) -> None:
        """Drop events and counters past their expiry (newest events come first)."""
        for key, events in list(self.events.items()):
            kept = bisect.bisect_left(events, -now, key=lambda event: -event.expiry)
            if kept:
                del events[kept:]
            else:
                del self.events[key]
                self.locks.pop(key, None)
        for key, expires_at in list(self.expirations.items()):
            if expires_at <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)

    async def clear(self, key: str) -> None:
        self.storage.pop(key, None)
        self.expirations.pop(key, None)
        if key in self.events:
            self.events[key] = []


def key_hasher(secret: bytes) -> Callable[[str], str]:
    """A keyed hash for limiter keys: stable across processes sharing the secret."""
    derived = hmac.new(secret, b"secinfo-ratelimit-keys", hashlib.sha256).digest()

    def hashed(key: str) -> str:
        return hmac.new(derived, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[
            :32
        ]

    return hashed


class LimitsRateLimiter:
    def __init__(
        self,
        storage: Storage,
        table: dict[str, NamedLimit],
        fail_open: frozenset[Category] = frozenset({Category.CHECK, Category.SIGN_IN}),
        *,
        key_secret: bytes,
        fallback: frozenset[Category] = frozenset(),
    ) -> None:
        self.storage = storage
        self._hash = key_hasher(key_secret)
        self.strategy = MovingWindowRateLimiter(storage)
        self.table = table
        self.items: dict[str, list[RateLimitItem]] = {
            name: parse_many(limit.rates) for name, limit in table.items()
        }
        self.fail_open = fail_open
        # While the shared store is unreachable, the limits of these categories count in
        # this process's memory (per name, per network, ...) instead of going unlimited:
        # one process's view, but a brute force against one name still meets a 429.
        self.fallback = fallback
        self.fallback_strategy = MovingWindowRateLimiter(ClearSafeMemoryStorage())
        self._extra_items: dict[str, list[RateLimitItem]] = {}

    async def hit(self, name: str, key: str) -> None:
        """Count one call; raise TooManyRequests (naming the limit) when over it."""
        key = self._hash(key)
        try:
            await self._hit(self.strategy, name, key)
        except StorageError as error:
            if self._outage(name, error):
                await self._hit(self.fallback_strategy, name, key)

    async def hit_rates(self, name: str, key: str, rates: str, description: str) -> None:
        """Count one call against rates the caller gives (an integrator's own buckets),
        in the same store with the same outage rule as the sends' named limits."""
        items = self._extra_items.get(rates)
        if items is None:
            items = parse_many(rates)
            if len(self._extra_items) > 10000:  # a bound, in case of very many buckets
                self._extra_items.clear()
            self._extra_items[rates] = items
        key = self._hash(key)
        try:
            await self._hit_items(self.strategy, name, key, items, description)
        except StorageError as error:
            if self._outage_of(name, Category.SEND, error):
                await self._hit_items(self.fallback_strategy, name, key, items, description)

    async def _hit_items(
        self,
        strategy: MovingWindowRateLimiter,
        name: str,
        key: str,
        items: list[RateLimitItem],
        description: str,
    ) -> None:
        for item in items:
            if not await strategy.hit(item, name, key):
                retry_after = await self._refusal(strategy, name, key, item)
                raise TooManyRequests(
                    f"Too many requests ({description}: {item}); "
                    f"try again in {wait_in_words(retry_after)}.",
                    limit=name,
                    retry_after=retry_after,
                )

    async def _refusal(
        self, strategy: MovingWindowRateLimiter, name: str, key: str, item: RateLimitItem
    ) -> int:
        """Count the refusal; the seconds until ``item`` lets a call through again."""
        stats = await strategy.get_window_stats(item, name, key)
        self._refused(name)
        return max(int(stats.reset_time - time.time()) + 1, 1)

    async def check(self, name: str, key: str) -> None:
        """Refuse if the limit is already exhausted, without counting a call."""
        key = self._hash(key)
        try:
            await self._check(self.strategy, name, key)
        except StorageError as error:
            if self._outage(name, error):
                await self._check(self.fallback_strategy, name, key)

    async def _hit(self, strategy: MovingWindowRateLimiter, name: str, key: str) -> None:
        await self._hit_items(strategy, name, key, self.items[name], self.table[name].description)

    async def _check(self, strategy: MovingWindowRateLimiter, name: str, key: str) -> None:
        for item in self.items[name]:
            if not await strategy.test(item, name, key):
                retry_after = await self._refusal(strategy, name, key, item)
                raise TooManyRequests(
                    f"Too many requests ({self.table[name].description}); wait "
                    f"{wait_in_words(retry_after)}, then start a new verification.",
                    limit=name,
                    retry_after=retry_after,
                )

    async def clear(self, name: str, key: str) -> None:
        key = self._hash(key)
        if self.table[name].category in self.fallback:
            for item in self.items[name]:
                await self.fallback_strategy.clear(item, name, key)
        try:
            for item in self.items[name]:
                await self.strategy.clear(item, name, key)
        except StorageError as error:
            log.warning("ratelimit.clear_failed", limit=name, error=type(error).__name__)

    async def incr(self, key: str, expiry_seconds: int) -> int:
        """A plain counter in the same store (used by the SMS-pumping guard)."""
        try:
            return int(await self.storage.incr(f"counter/{self._hash(key)}", expiry_seconds))
        except StorageError as error:
            log.warning("ratelimit.counter_failed", error=type(error).__name__)
            return 0

    async def get(self, key: str) -> int:
        try:
            return int(await self.storage.get(f"counter/{self._hash(key)}"))
        except StorageError:
            return 0

    def _refused(self, name: str) -> None:
        metrics.RATE_LIMITED.labels(limit=name).inc()

    def _outage(self, name: str, error: Exception) -> bool:
        """The shared store is away: True to count this call in process memory instead,
        False to let it through uncounted, or raise RateLimiterUnavailable (503)."""
        return self._outage_of(name, self.table[name].category, error)

    def _outage_of(self, name: str, category: Category, error: Exception) -> bool:
        fallback = category in self.fallback
        log.warning(
            "ratelimit.store_unreachable",
            limit=name,
            error=type(error).__name__,
            fallback="memory" if fallback else None,
        )
        if fallback:
            return True
        if category in self.fail_open:
            return False
        raise RateLimiterUnavailable()


def memory_limiter(
    table: dict[str, NamedLimit], *, key_secret: bytes, **options: object
) -> LimitsRateLimiter:
    return LimitsRateLimiter(
        ClearSafeMemoryStorage(),
        table,
        key_secret=key_secret,
        **options,  # type: ignore[arg-type]
    )


def redis_limiter(
    url: str,
    table: dict[str, NamedLimit],
    key_prefix: str = "secinfo",
    *,
    key_secret: bytes,
    **options: object,
) -> LimitsRateLimiter:
    storage = RedisStorage(
        url,
        implementation="redispy",
        key_prefix=key_prefix,
        wrap_exceptions=True,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )
    return LimitsRateLimiter(
        storage,
        table,
        key_secret=key_secret,
        **options,  # type: ignore[arg-type]
    )


def wait_in_words(seconds: int) -> str:
    """``3240`` -> "54 minutes": how long to wait, rounded up, in the largest unit."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * (2 if unit != "minute" else 1):
            count = -(-seconds // size)
            return f"{count} {unit}s" if count != 1 else f"1 {unit}"
    return f"{seconds} seconds" if seconds != 1 else "1 second"
