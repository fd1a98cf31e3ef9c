"""The bounded pool that runs password hashes: what starts, what waits, what is refused.

The hashes here are stand-ins that block until the test lets them finish, so every
outcome is decided by the pool's rules, not by how fast the machine is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from argon2 import PasswordHasher, Type

from secinfo.adapters.passwords import Argon2Passwords, HashPool
from secinfo.config import ConfigError, load_settings
from secinfo.domain.errors import Overloaded
from secinfo.domain.passwords import PasswordHashPolicy

pytestmark = pytest.mark.anyio


class Gate:
    """A fake hash: blocks its thread until released; counts how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, label: str) -> str:
        with self._lock:
            self.started += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.release.wait(10)
        with self._lock:
            self.running -= 1
        return f"hashed {label}"


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    # More threads than the pool's workers: the pool, not the executor, must bound them.
    with ThreadPoolExecutor(16) as threads:
        yield threads


def pool(executor: ThreadPoolExecutor, **overrides: float) -> HashPool:
    options: dict[str, float] = {"workers": 2, "queue": 3, "max_wait": 5.0, "expected": 0.01}
    options.update(overrides)
    return HashPool(
        int(options["workers"]),
        int(options["queue"]),
        options["max_wait"],
        retry_after_seconds=int(options.get("retry_after", 1)),
        expected_seconds=options["expected"],
        executor=executor,
    )


async def settle(gate: Gate, started: int) -> None:
    for _ in range(500):
        if gate.started >= started:
            return
        await asyncio.sleep(0.002)
    raise AssertionError(f"{started} hashes should have started, {gate.started} did")


async def test_free_workers_start_at_once_and_the_rest_wait_their_turn(
    executor: ThreadPoolExecutor,
) -> None:
    hashes, gate = pool(executor), Gate()
    calls = [asyncio.ensure_future(hashes.run(gate, f"p{index}")) for index in range(5)]
    await settle(gate, 2)
    await asyncio.sleep(0.02)

    assert (gate.started, hashes.running, hashes.waiting) == (2, 2, 3)
    gate.release.set()
    assert await asyncio.gather(*calls) == [f"hashed p{index}" for index in range(5)]
    assert gate.most_at_once == 2
    assert (hashes.running, hashes.waiting, hashes.refused) == (0, 0, 0)


async def test_a_full_queue_refuses_at_once_as_overloaded_with_retry_after(
    executor: ThreadPoolExecutor,
) -> None:
    hashes, gate = pool(executor, queue=1, retry_after=1), Gate()
    calls = [asyncio.ensure_future(hashes.run(gate, f"p{index}")) for index in range(3)]
    await settle(gate, 2)
    await asyncio.sleep(0.01)

    with pytest.raises(Overloaded) as refused:
        await hashes.run(gate, "one too many")  # returns without any hash finishing

    assert refused.value.code == "overloaded"
    assert refused.value.details["retry_after"] == 1
    assert "nothing was changed" in refused.value.message
    assert (hashes.waiting, hashes.refused) == (1, 1)
    gate.release.set()
    assert len(await asyncio.gather(*calls)) == 3


async def test_a_predicted_wait_beyond_the_limit_refuses_at_once(
    executor: ThreadPoolExecutor,
) -> None:
    # Each hash takes ~1 s (so the estimate says), the limit is 1.5 s: with both workers
    # busy, waiters start after ~0.5, 1.0 and 1.5 s, a fourth only after ~2 s.
    hashes, gate = pool(executor, queue=10, max_wait=1.5, expected=1.0), Gate()
    running = [asyncio.ensure_future(hashes.run(gate, f"r{index}")) for index in range(2)]
    await settle(gate, 2)
    waiters = [asyncio.ensure_future(hashes.run(gate, f"w{index}")) for index in range(4)]
    await asyncio.sleep(0.01)
    assert hashes.waiting == 3
    assert waiters[3].done()

    with pytest.raises(Overloaded) as refused:
        await waiters[3]
    assert refused.value.details["retry_after"] == 2  # the predicted wait, rounded up
    gate.release.set()
    await asyncio.gather(*running, *waiters[:3])


async def test_an_admitted_waiter_keeps_its_place_past_the_wait(
    executor: ThreadPoolExecutor,
) -> None:
    # The estimate said 1 ms: the waiter was admitted, and the hash ahead takes longer.
    hashes, gate = pool(executor, workers=1, queue=5, max_wait=0.2, expected=0.001), Gate()
    running = asyncio.ensure_future(hashes.run(gate, "long"))
    await settle(gate, 1)
    admitted = asyncio.ensure_future(hashes.run(gate, "admitted"))
    await asyncio.sleep(0.25)  # past the wait, well short of the backstop (0.4 s)

    assert not admitted.done() and hashes.waiting == 1 and hashes.refused == 0
    gate.release.set()
    assert await asyncio.gather(running, admitted) == ["hashed long", "hashed admitted"]


async def test_a_waiter_still_waiting_at_twice_the_wait_is_refused_then(
    executor: ThreadPoolExecutor,
) -> None:
    hashes, gate = pool(executor, workers=1, queue=5, max_wait=0.05, expected=0.001), Gate()
    running = asyncio.ensure_future(hashes.run(gate, "stuck"))
    await settle(gate, 1)
    began = asyncio.get_running_loop().time()

    with pytest.raises(Overloaded):
        await hashes.run(gate, "late")

    assert asyncio.get_running_loop().time() - began >= 0.1
    assert (hashes.running, hashes.waiting, hashes.refused) == (1, 0, 1)
    gate.release.set()
    assert await running == "hashed stuck"
    assert await hashes.run(gate, "after") == "hashed after"  # the worker came back


async def test_a_caller_that_goes_away_frees_its_place_but_not_a_running_hash(
    executor: ThreadPoolExecutor,
) -> None:
    hashes, gate = pool(executor, workers=1), Gate()
    running = asyncio.ensure_future(hashes.run(gate, "abandoned"))
    await settle(gate, 1)
    waiting = asyncio.ensure_future(hashes.run(gate, "impatient"))
    await asyncio.sleep(0.01)
    assert hashes.waiting == 1

    waiting.cancel()
    running.cancel()
    await asyncio.sleep(0.01)
    # The abandoned hash still occupies its thread: a new call must wait for it.
    assert (hashes.running, hashes.waiting) == (1, 0)
    after = asyncio.ensure_future(hashes.run(gate, "next"))
    await asyncio.sleep(0.01)
    assert gate.started == 1 and hashes.waiting == 1
    gate.release.set()
    assert await after == "hashed next"
    assert gate.most_at_once == 1
    assert (hashes.running, hashes.waiting) == (0, 0)


class Stopwatch:
    """A monotonic clock that moves only when a stand-in hash says it took so long."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def hash_taking(self, seconds: float) -> Callable[[], None]:
        def hash() -> None:
            self.now += seconds

        return hash


async def test_the_estimate_rises_at_once_when_hashes_slow_and_falls_slowly(
    executor: ThreadPoolExecutor,
) -> None:
    clock = Stopwatch()
    hashes = HashPool(2, 3, 5.0, expected_seconds=0.02, executor=executor, monotonic=clock)
    await hashes.run(clock.hash_taking(0.1))
    assert hashes.expected_seconds == pytest.approx(0.06)  # halfway up in one hash
    await hashes.run(clock.hash_taking(0.02))
    assert hashes.expected_seconds == pytest.approx(0.056)  # a tenth of the way down
    for _ in range(60):
        await hashes.run(clock.hash_taking(0.02))
    assert hashes.expected_seconds == pytest.approx(0.02, abs=0.001)  # it does come down


def test_the_default_is_owasps_argon2id_recommendation() -> None:
    policy = PasswordHashPolicy()
    assert (policy.time_cost, policy.memory_kib, policy.parallelism) == (2, 19 * 1024, 1)
    settings = load_settings()
    assert settings.password_hash_policy() == policy
    made = Argon2Passwords(PasswordHashPolicy(time_cost=1, memory_kib=1024))
    assert made.pool.workers >= 1


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("argon2_memory_kib", 0, "SECINFO_ARGON2_MEMORY_KIB"),
        ("argon2_time_cost", 0, "SECINFO_ARGON2_TIME_COST"),
        ("argon2_parallelism", 0, "SECINFO_ARGON2_PARALLELISM"),
        ("password_hash_workers", -1, "SECINFO_PASSWORD_HASH_WORKERS"),
        ("password_hash_queue", "lots", "SECINFO_PASSWORD_HASH_QUEUE"),
        ("password_hash_max_wait_ms", 0, "SECINFO_PASSWORD_HASH_MAX_WAIT_MS"),
    ],
)
def test_nonsense_hashing_settings_stop_the_start_naming_the_setting(
    setting: str, value: object, says: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(**{setting: value})
    assert says in str(refused.value)


def test_the_policy_refuses_parameters_argon2_cannot_run() -> None:
    with pytest.raises(ValueError, match="8 KiB per lane"):
        PasswordHashPolicy(memory_kib=16, parallelism=4)
    with pytest.raises(ValueError, match="wait positive"):
        PasswordHashPolicy(max_wait=timedelta(0))


async def test_a_hash_made_with_other_parameters_needs_a_rehash() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    current = Argon2Passwords(PasswordHashPolicy(time_cost=1, memory_kib=2048))
    try:
        stored = old.hash("a long passphrase 1")
        assert await current.verify(stored, "a long passphrase 1")
        assert current.needs_rehash(stored)
        fresh = await current.hash("a long passphrase 1")
        assert not current.needs_rehash(fresh)
        assert "m=2048,t=1,p=1" in fresh
        assert not current.needs_rehash("not a hash at all")
    finally:
        await current.close()


async def test_places_held_before_the_hash_count_so_a_burst_cannot_all_pass(
    executor: ThreadPoolExecutor,
) -> None:
    hashes, gate = pool(executor, workers=1, queue=1), Gate()
    with hashes.place(), hashes.place():  # one for the free worker, one for the queue
        assert hashes.placed == 2
        with pytest.raises(Overloaded), hashes.place():
            pass  # refused at once: nothing else is done for this request
    assert hashes.placed == 0  # places that led to no hash were given back
    assert hashes.refused == 1

    async def sign_in(label: str) -> str:
        with hashes.place():
            await asyncio.sleep(0.01)  # reading the account meanwhile
            return await hashes.run(gate, label)

    first = asyncio.ensure_future(sign_in("first"))
    second = asyncio.ensure_future(sign_in("second"))
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await sign_in("third")
    await settle(gate, 1)
    await asyncio.sleep(0.01)
    # The second holds its place in the queue: admitted, not refused by the full line.
    assert (hashes.running, hashes.waiting, hashes.placed) == (1, 1, 0)
    gate.release.set()
    assert await asyncio.gather(first, second) == ["hashed first", "hashed second"]


async def test_a_second_hash_in_one_request_takes_its_own_turn(
    executor: ThreadPoolExecutor,
) -> None:
    hashes, gate = pool(executor, workers=1, queue=0), Gate()
    gate.release.set()
    with hashes.place():
        assert await hashes.run(gate, "verify") == "hashed verify"
        assert hashes.placed == 0
        assert await hashes.run(gate, "rehash") == "hashed rehash"  # a free worker: runs
    assert (hashes.running, hashes.waiting, hashes.placed) == (0, 0, 0)
