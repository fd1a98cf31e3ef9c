"""argon2id password hashing in a bounded pool, off the event loop.

A rush of sign-ins must not take the service down: hashes run on a few threads (argon2
releases the GIL, so threads use every core without a process's memory and hand-off
costs), at most ``queue`` more wait, and a request whose hash could not start within
``max_wait`` is refused at once (``Overloaded``, HTTP 503 with Retry-After) instead of
piling up memory and answering after the client has given up.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from secinfo.domain.errors import Overloaded
from secinfo.domain.passwords import PasswordHashPolicy

T = TypeVar("T")

# How fast the running estimate of one hash's duration follows new measurements: up at
# once (hashes slow down when the cores are contended, and an estimate that lags admits
# calls that then wait past the limit), down slowly (one quick hash is no promise).
_SMOOTHING_UP = 0.5
_SMOOTHING_DOWN = 0.1
# An admitted call waits its turn: the prediction said it would start in time, and
# refusing it after it waited wastes the wait. Only a prediction this far off (a worker
# stuck, the machine stalled) ends the wait with a refusal.
_BACKSTOP = 2.0


class _Place:
    """A place held in a pool's line, used by the request's first hash."""

    def __init__(self, pool: HashPool) -> None:
        self.pool = pool
        self.used = False


_PLACE: ContextVar[_Place | None] = ContextVar("secinfo_hash_place", default=None)


class HashPool:
    """Run blocking work on ``workers`` threads, admitting only what can start in time.

    A call starts at once when a worker is free. Otherwise it joins the queue if the
    queue has room and the predicted wait (the hashes ahead of it, divided among the
    workers, at the measured duration of one) is within ``max_wait``; else it is refused
    at once. A queued call keeps its place until it starts: only one still waiting at
    twice ``max_wait`` (the prediction was far off) is refused then.

    ``place()`` makes the same decision before a request does the work that leads to its
    hash (reading the account): a rush is refused before it costs anything else, and the
    places held count as waiting, so a burst cannot all pass the check at once.
    """

    def __init__(
        self,
        workers: int,
        queue: int,
        max_wait_seconds: float,
        *,
        retry_after_seconds: int = 1,
        expected_seconds: float = 0.025,
        executor: Executor | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = workers
        self.queue = queue
        self.max_wait = max_wait_seconds
        self.retry_after = retry_after_seconds
        self.expected_seconds = expected_seconds
        self._executor = executor or ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        self._monotonic = monotonic
        self._running = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._placed = 0
        self.refused = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def placed(self) -> int:
        return self._placed

    def predicted_wait(self) -> float:
        """Seconds a call arriving now would wait for a worker."""
        ahead = len(self._waiting) + self._placed
        free = self.workers - self._running
        if ahead < free:
            return 0.0
        return (ahead - free + 1) * self.expected_seconds / self.workers

    def _full(self) -> bool:
        return len(self._waiting) + self._placed >= self.workers - self._running + self.queue

    def refuse_if_busy(self) -> None:
        wait = self.predicted_wait()
        if self._full() or wait > self.max_wait:
            self._refuse(wait)

    @contextmanager
    def place(self) -> Iterator[None]:
        """Hold a place for a hash this request will ask for soon, or refuse at once."""
        self.refuse_if_busy()
        self._placed += 1
        held = _Place(self)
        token = _PLACE.set(held)
        try:
            yield
        finally:
            _PLACE.reset(token)
            if not held.used:  # no hash came of it: give the place back
                self._placed -= 1

    async def run(self, function: Callable[..., T], *args: object) -> T:
        held = _PLACE.get()
        if held is not None and held.pool is self and not held.used:
            held.used = True  # admitted already, when the place was taken
            self._placed -= 1
            await self._admit(checked=True)
        else:
            await self._admit()
        started = self._monotonic()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        except BaseException:
            self._release()
            raise

        def finished(_: object) -> None:
            # Also when the caller went away: the worker is free only when the hash
            # ends, so no more than ``workers`` hashes ever run.
            self._learn(self._monotonic() - started)
            self._release()

        future.add_done_callback(finished)
        return await asyncio.shield(future)

    async def _admit(self, *, checked: bool = False) -> None:
        if self._running < self.workers and not self._waiting:
            self._running += 1
            return
        wait = self.predicted_wait()
        if not checked and (self._full() or wait > self.max_wait):
            self._refuse(wait)
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(ticket)
        try:
            await asyncio.wait_for(asyncio.shield(ticket), self.max_wait * _BACKSTOP)
        except TimeoutError:
            if not ticket.done():
                self._waiting.remove(ticket)
                ticket.cancel()
                self._refuse(self.predicted_wait())
            # Handed a worker in the same instant: take it.
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release()  # the slot was handed over: pass it on
            elif ticket in self._waiting:
                self._waiting.remove(ticket)
                ticket.cancel()
            raise

    def _refuse(self, wait: float) -> None:
        self.refused += 1
        retry_after = max(self.retry_after, math.ceil(wait))
        raise Overloaded(
            "The service is busy checking passwords and could not start on yours in time; "
            f"nothing was changed. Try again in {retry_after} second"
            f"{'' if retry_after == 1 else 's'}.",
            retry_after=retry_after,
        )

    def _release(self) -> None:
        """Hand the finished call's worker to the next waiter, or free it."""
        while self._waiting:
            ticket = self._waiting.popleft()
            if not ticket.done():
                ticket.set_result(None)
                return
        self._running -= 1

    def _learn(self, seconds: float) -> None:
        smoothing = _SMOOTHING_UP if seconds > self.expected_seconds else _SMOOTHING_DOWN
        self.expected_seconds += smoothing * (seconds - self.expected_seconds)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def pool_for(policy: PasswordHashPolicy, expected_seconds: float) -> HashPool:
    return HashPool(
        policy.workers or os.cpu_count() or 1,
        policy.queue,
        policy.max_wait.total_seconds(),
        retry_after_seconds=policy.retry_after_seconds,
        expected_seconds=expected_seconds,
    )


class Argon2Passwords:
    def __init__(
        self, policy: PasswordHashPolicy | None = None, pool: HashPool | None = None
    ) -> None:
        policy = policy or PasswordHashPolicy()
        self._hasher = PasswordHasher(
            time_cost=policy.time_cost,
            memory_cost=policy.memory_kib,
            parallelism=policy.parallelism,
            type=Type.ID,
        )
        began = time.monotonic()
        self._dummy = self._hasher.hash("secinfo-dummy-password-for-equal-timing")
        self.pool = pool or pool_for(policy, time.monotonic() - began)

    def place(self) -> AbstractContextManager[None]:
        return self.pool.place()

    def refuse_if_busy(self) -> None:
        self.pool.refuse_if_busy()

    async def hash(self, password: str) -> str:
        return await self.pool.run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self.pool.run(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a stored hash was made with other parameters than today's."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return False

    async def burn(self) -> None:
        await self.verify(self._dummy, "not-the-password")

    async def close(self) -> None:
        self.pool.close()
