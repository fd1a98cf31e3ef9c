"""``--rush``: password sign-in under a rush, and the sign-in figure at c=8 before it.

The rush: ``concurrency`` (256) virtual users sign in without pause for ``duration``
(30 s), each with a client timeout; one prober meanwhile asks ``/healthz`` every 100 ms
and another runs verify pairs (start, read the code, check) one after another. Reported:
completed sign-ins/s, 503 ``overloaded`` answers (and how fast they came), client
timeouts, latency of the admitted sign-ins, the probers' latencies, the server's RSS
before, at its peak and after, and how long one sign-in takes right after the rush.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.http.client import Connection, HttpError
from bench.http.load import PASSWORD, Recorder, Target, percentiles, run_cell, verify_pair
from bench.http.servers import cpu_seconds_of, rss_mib_of

CLIENT_TIMEOUT_SECONDS = 10.0


@dataclass
class RushRecord:
    admitted_ms: list[float] = field(default_factory=list)
    refused_ms: list[float] = field(default_factory=list)
    other: Counter[str] = field(default_factory=Counter)
    timeouts: int = 0
    retry_after: Counter[str] = field(default_factory=Counter)
    refused_without_retry_after: int = 0


async def _rusher(
    index: int, target: Target, record: RushRecord, stop_at: float, honour_retry_after: bool
) -> None:
    connection = Connection("127.0.0.1", target.ports[index % len(target.ports)])
    rng = random.Random(index)
    try:
        while time.monotonic() < stop_at:
            body = {"sign_in_name": rng.choice(target.accounts), "password": PASSWORD}
            started = time.monotonic()
            try:
                response = await asyncio.wait_for(
                    connection.request("POST", "/v1/sessions", body), CLIENT_TIMEOUT_SECONDS
                )
            except TimeoutError:
                record.timeouts += 1
                connection.close()
                continue
            except HttpError as error:
                record.other[f"connection: {error}"[:80]] += 1
                continue
            elapsed = (time.monotonic() - started) * 1000
            if response.status == 201:
                record.admitted_ms.append(elapsed)
            elif response.status == 503 and b'"overloaded"' in response.body:
                record.refused_ms.append(elapsed)
                if response.retry_after is None:
                    record.refused_without_retry_after += 1
                else:
                    record.retry_after[response.retry_after] += 1
                    if honour_retry_after:
                        await asyncio.sleep(float(response.retry_after) * rng.uniform(1, 1.5))
            else:
                record.other[f"HTTP {response.status} {response.body[:60]!r}"] += 1
    finally:
        connection.close()


async def _probe_health(target: Target, stop_at: float, latencies: list[float]) -> int:
    connection = Connection("127.0.0.1", target.ports[0])
    failures = 0
    try:
        while time.monotonic() < stop_at:
            started = time.monotonic()
            try:
                response = await asyncio.wait_for(connection.request("GET", "/healthz"), 5)
                if response.status != 200:
                    failures += 1
            except (TimeoutError, HttpError):
                failures += 1
                connection.close()
            latencies.append((time.monotonic() - started) * 1000)
            await asyncio.sleep(0.1)
    finally:
        connection.close()
    return failures


async def _probe_verify(target: Target, stop_at: float, recorder: Recorder) -> int:
    connection = Connection("127.0.0.1", target.ports[0])
    pairs = 0
    try:
        while time.monotonic() < stop_at:
            pairs += await verify_pair(connection, target, recorder)
            await asyncio.sleep(0.05)
    finally:
        connection.close()
    return pairs


async def one_sign_in_ms(target: Target) -> float | str:
    connection = Connection("127.0.0.1", target.ports[0])
    started = time.monotonic()
    try:
        response = await asyncio.wait_for(
            connection.request(
                "POST", "/v1/sessions", {"sign_in_name": target.accounts[0], "password": PASSWORD}
            ),
            60,
        )
    finally:
        connection.close()
    if response.status != 201:
        return f"HTTP {response.status}"
    return round((time.monotonic() - started) * 1000, 1)


async def rush(
    target: Target,
    pids: list[int],
    *,
    concurrency: int,
    duration: float,
    honour_retry_after: bool,
) -> dict[str, Any]:
    record = RushRecord()
    rss_before = [round(rss_mib_of(pid), 1) for pid in pids]
    peak = list(rss_before)
    cpu_before = sum(cpu_seconds_of(pid) for pid in pids)
    began = time.monotonic()
    stop_at = began + duration
    health: list[float] = []
    verify = Recorder(window_start=began, window_end=stop_at + CLIENT_TIMEOUT_SECONDS)

    async def sample_rss() -> None:
        while True:
            for index, pid in enumerate(pids):
                peak[index] = max(peak[index], round(rss_mib_of(pid), 1))
            await asyncio.sleep(0.5)

    sampler = asyncio.ensure_future(sample_rss())
    health_task = asyncio.ensure_future(_probe_health(target, stop_at, health))
    verify_task = asyncio.ensure_future(_probe_verify(target, stop_at, verify))
    users = [
        asyncio.ensure_future(_rusher(i, target, record, stop_at, honour_retry_after))
        for i in range(concurrency)
    ]
    await asyncio.gather(*users)
    wall = time.monotonic() - began
    health_failures = await health_task
    verify_pairs = await verify_task
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler
    server_cpu = sum(cpu_seconds_of(pid) for pid in pids) - cpu_before
    after_ms = await one_sign_in_ms(target)
    await asyncio.sleep(2)
    rss_after = [round(rss_mib_of(pid), 1) for pid in pids]
    alive = all(_alive(pid) for pid in pids)
    return {
        "scenario": "signin-rush",
        "concurrency": concurrency,
        "duration_s": duration,
        "honour_retry_after": honour_retry_after,
        "client_timeout_s": CLIENT_TIMEOUT_SECONDS,
        "completed": len(record.admitted_ms),
        "completed_per_s": round(len(record.admitted_ms) / wall, 1),
        "refused_503": len(record.refused_ms),
        "refused_per_s": round(len(record.refused_ms) / wall, 1),
        "refused_without_retry_after": record.refused_without_retry_after,
        "retry_after_values": dict(record.retry_after),
        "timeouts": record.timeouts,
        "other_answers": dict(record.other.most_common(5)),
        "admitted_ms": percentiles(record.admitted_ms),
        "refused_ms": percentiles(record.refused_ms),
        "healthz_ms": percentiles(health),
        "healthz_failures": health_failures,
        "verify_pairs": verify_pairs,
        "verify_request_ms": {
            name: percentiles(values) for name, values in sorted(verify.latencies.items())
        },
        "verify_errors": dict(verify.errors.most_common(5)),
        "server_cpu_cores": round(server_cpu / wall, 3),
        "rss_mib": {"before": rss_before, "peak": peak, "after": rss_after},
        "sign_in_right_after_ms": after_ms,
        "processes_alive": alive,
    }


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


async def signin_figure(
    target: Target, pids: list[int], concurrency: int, duration: float
) -> dict[str, Any]:
    """The plain sign-in cell (c=8 by default) before the rush, as the matrix measures."""
    return await run_cell(target, "signin", concurrency, 2.0, duration, pids)
