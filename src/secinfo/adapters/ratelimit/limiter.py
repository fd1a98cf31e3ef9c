"""Rate limits on the ``limits`` library: in memory (one process) or Redis (shared)."""

from __future__ import annotations

import time

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from secinfo import metrics
from secinfo.domain.errors import RateLimiterUnavailable, TooManyRequests
from secinfo.domain.limits import Category, NamedLimit

log = structlog.get_logger("secinfo.ratelimit")


class LimitsRateLimiter:
    def __init__(
        self,
        storage: Storage,
        table: dict[str, NamedLimit],
        fail_open: frozenset[Category] = frozenset({Category.CHECK, Category.SIGN_IN}),
    ) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.table = table
        self.items: dict[str, list[RateLimitItem]] = {
            name: parse_many(limit.rates) for name, limit in table.items()
        }
        self.fail_open = fail_open

    async def hit(self, name: str, key: str) -> None:
        """Count one call; raise TooManyRequests (naming the limit) when over it."""
        try:
            for item in self.items[name]:
                if not await self.strategy.hit(item, name, key):
                    stats = await self.strategy.get_window_stats(item, name, key)
                    self._refused(name)
                    raise TooManyRequests(
                        f"Too many requests ({self.table[name].description}: {item}); "
                        "try again later.",
                        limit=name,
                        retry_after=max(int(stats.reset_time - time.time()) + 1, 1),
                    )
        except StorageError as error:
            self._outage(name, error)

    async def check(self, name: str, key: str) -> None:
        """Refuse if the limit is already exhausted, without counting a call."""
        try:
            for item in self.items[name]:
                if not await self.strategy.test(item, name, key):
                    stats = await self.strategy.get_window_stats(item, name, key)
                    self._refused(name)
                    raise TooManyRequests(
                        f"Too many requests ({self.table[name].description}); "
                        "wait, then start a new verification.",
                        limit=name,
                        retry_after=max(int(stats.reset_time - time.time()) + 1, 1),
                    )
        except StorageError as error:
            self._outage(name, error)

    async def clear(self, name: str, key: str) -> None:
        try:
            for item in self.items[name]:
                await self.strategy.clear(item, name, key)
        except StorageError as error:
            log.warning("ratelimit.clear_failed", limit=name, error=type(error).__name__)

    async def incr(self, key: str, expiry_seconds: int) -> int:
        """A plain counter in the same store (used by the SMS-pumping guard)."""
        try:
            return int(await self.storage.incr(f"counter/{key}", expiry_seconds))
        except StorageError as error:
            log.warning("ratelimit.counter_failed", error=type(error).__name__)
            return 0

    async def get(self, key: str) -> int:
        try:
            return int(await self.storage.get(f"counter/{key}"))
        except StorageError:
            return 0

    def _refused(self, name: str) -> None:
        metrics.RATE_LIMITED.labels(limit=name).inc()

    def _outage(self, name: str, error: Exception) -> None:
        category = self.table[name].category
        log.warning("ratelimit.store_unreachable", limit=name, error=type(error).__name__)
        if category in self.fail_open:
            return
        raise RateLimiterUnavailable()


def memory_limiter(table: dict[str, NamedLimit], **options: object) -> LimitsRateLimiter:
    return LimitsRateLimiter(MemoryStorage(), table, **options)  # type: ignore[arg-type]


def redis_limiter(
    url: str, table: dict[str, NamedLimit], key_prefix: str = "secinfo", **options: object
) -> LimitsRateLimiter:
    storage = RedisStorage(
        url,
        implementation="redispy",
        key_prefix=key_prefix,
        wrap_exceptions=True,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )
    return LimitsRateLimiter(storage, table, **options)  # type: ignore[arg-type]
