"""A short per-process cache of what authenticates a call (API keys, Twilio-compatible
credentials, Verify services), so the hot path skips a transaction.

One store per unit-of-work factory (one per application, so one per database), held
weakly so a dropped application takes its entries with it. An entry read at ``now`` is
fresh for ``seconds``: a change made through this process forgets it at once, one made by
another process takes effect within that many seconds.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from datetime import datetime
from typing import Generic, TypeVar

from secinfo.services.deps import Deps

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# A bound, in case of very many keys: past it the store starts again.
MAX_ENTRIES = 1000


class FreshCache(Generic[K, V]):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._stores: weakref.WeakKeyDictionary[object, dict[K, tuple[V, datetime]]] = (
            weakref.WeakKeyDictionary()
        )

    def _store(self, deps: Deps) -> dict[K, tuple[V, datetime]] | None:
        try:
            return self._stores.setdefault(deps.uow, {})
        except TypeError:  # a factory that cannot be weakly referenced: no cache
            return None

    def get(self, deps: Deps, key: K, now: datetime) -> V | None:
        store = self._store(deps)
        hit = store.get(key) if store is not None else None
        if hit is not None and 0 <= (now - hit[1]).total_seconds() < self.seconds:
            return hit[0]
        return None

    def put(self, deps: Deps, key: K, value: V, now: datetime) -> None:
        store = self._store(deps)
        if store is None:
            return
        if len(store) > MAX_ENTRIES:
            store.clear()
        store[key] = (value, now)

    def forget(self, deps: Deps, key: K) -> None:
        store = self._store(deps)
        if store is not None:
            store.pop(key, None)


def last_used_is_stale(last: datetime | None, now: datetime, resolution_seconds: float) -> bool:
    """``last_used_at`` is written at most every ``resolution_seconds``, not on every call."""
    return last is None or (now - last).total_seconds() > resolution_seconds
