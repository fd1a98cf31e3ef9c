"""Shared helpers for integration and e2e tests: databases, a movable clock, codes."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import statistics
from datetime import UTC, datetime, timedelta

import pytest

REQUIRE_SERVICES = os.environ.get("SECINFO_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "SECINFO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SECINFO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CODE_PATTERN = re.compile(r"(?:code is: |Code lautet: |#)([0-9A-Z]{4,10})\b")  # en, de


def unavailable(what: str, error: BaseException) -> None:
    """Skip locally, fail in CI: a skipped integration test is a hole."""
    message = (
        f"{what} is not reachable ({type(error).__name__}: {error}). Start it (README, "
        "'Running the tests'); with SECINFO_TEST_REQUIRE_SERVICES=1 this is a failure."
    )
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


class MovableClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC)

    def now(self) -> datetime:
        """Time moves on a little at every reading, as it does; tests move it further."""
        self.current += timedelta(microseconds=1000)
        return self.current

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> None:
        self.current += delta or timedelta(**kwargs)


def code_in(body: str) -> str:
    found = CODE_PATTERN.findall(body)
    assert found, f"no code in message body: {body!r}"
    return str(found[-1])


class PostgresDatabase:
    """A throwaway database on the local PostgreSQL, dropped at the end of the run."""

    def __init__(self) -> None:
        self.name = f"secinfo_test_{secrets.token_hex(6)}"
        base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
        self.url = f"{base}/{self.name}"

    async def _admin(self, statement: str) -> None:
        import asyncpg

        dsn = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(dsn, timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    def create(self) -> None:
        asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))

    def drop(self) -> None:
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def generous_limits() -> dict[str, str]:
    """The named limits a hundred times looser: for tests of everything but the limits
    (the limits count real time, which the tests' clock does not move)."""
    from limits import parse_many

    from secinfo.domain.limits import DEFAULT_LIMITS

    return {
        name: ";".join(
            f"{item.amount * 100}/{item.multiples} {item.GRANULARITY.name}"
            for item in parse_many(limit.rates)
        )
        for name, limit in DEFAULT_LIMITS.items()
    }


def paired_z(first: list[float], second: list[float]) -> tuple[float, float]:
    """The z statistic of the differences of requests made back to back (first[i] next to
    second[i]), and the mean difference: a busy machine slows both of a pair alike, so
    its noise cancels where a comparison over the whole run would drift with the load.
    |z| < 2: no significant gap."""
    differences = [a - b for a, b in zip(first, second, strict=True)]
    mean = statistics.fmean(differences)
    spread = statistics.stdev(differences) / len(differences) ** 0.5
    return (mean / spread if spread else 0.0), mean
