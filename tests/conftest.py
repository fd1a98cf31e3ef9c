"""Fixtures: the app on SQLite and on PostgreSQL (one parametrised fixture), over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.types import ASGIApp

from secinfo.adapters.migrations import migrate
from secinfo.adapters.sql.database import create_engine
from secinfo.adapters.sql.tables import metadata
from secinfo.api.app import create_app
from secinfo.bootstrap import App, build
from secinfo.config import load_settings
from secinfo.domain.contacts import mask, normalize_contact
from secinfo.services import api_keys
from tests.support import (
    MovableClock,
    PostgresDatabase,
    code_in,
    generous_limits,
    unavailable,
)

TEST_SECRET = "test-secret-" + "x" * 40


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One database for the run, migrated once; each test starts from empty tables."""
    database = PostgresDatabase()
    try:
        database.create()
    except Exception as error:
        unavailable("PostgreSQL", error)

    async def prepare() -> None:
        engine = create_engine(database.url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    yield database.url
    database.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/secinfo.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def empty_tables(app: App) -> None:
    async with app.engine.begin() as connection:
        if app.engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            await connection.execute(sa.text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(table.delete())


@dataclass
class Harness:
    """The running app, an HTTP client to it, its clock: what a scenario needs."""

    app: App
    client: httpx.AsyncClient
    clock: MovableClock
    api: ASGIApp  # the ASGI app behind ``client``

    async def deliver(self) -> None:
        while await self.app.deliverer.deliver_due():
            pass

    async def mailbox(self, to: str) -> list[dict[str, Any]]:
        await self.deliver()
        response = await self.client.get("/dev/mailbox.json", params={"to": to})
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    async def latest_code(self, to: str) -> str:
        """Read the newest code sent to ``to``, the way a person reads their inbox."""
        for message in await self.mailbox(to):
            if "code" in message["subject"].lower() or message["channel"] == "sms":
                return code_in(message["body"])
        raise AssertionError(f"no code was sent to {to}")

    async def sign_up(self, email: str, password: str = "a long passphrase 1") -> str:
        """Sign up and confirm; return the session's bearer token."""
        started = await self.client.post(
            "/v1/accounts", json={"sign_in_name": email, "password": password}
        )
        assert started.status_code == 202, started.text
        code = await self.latest_code(email)
        confirmed = await self.client.post(
            "/v1/accounts/confirm",
            json={"verification_id": started.json()["verification_id"], "code": code},
        )
        assert confirmed.status_code == 201, confirmed.text
        token: str = confirmed.json()["token"]
        return token

    async def step_up(self, token: str, to: str) -> None:
        """Make the session privileged with a code sent to ``to`` (an active item)."""
        items = (await self.client.get("/v1/me/security-info", headers=auth(token))).json()
        channel, value = normalize_contact(to)
        item_id = next(
            item["id"]
            for item in items["items"]
            if item["state"] in ("active", "removal_pending")
            and item["value"] == mask(channel, value)
        )
        started = await self.client.post(
            "/v1/me/step-up", json={"security_info_id": item_id}, headers=auth(token)
        )
        assert started.status_code == 201, started.text
        checked = await self.client.post(
            f"/v1/me/step-up/{started.json()['id']}/check",
            json={"code": await self.latest_code(to)},
            headers=auth(token),
        )
        assert checked.status_code == 200, checked.text

    async def api_key(self) -> str:
        return (await api_keys.create(self.app.deps, "tests")).key


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Any:
    # Cheap hashes (tests sign in often); a test may set its own cost.
    defaults: dict[str, Any] = {
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "rate_limits": generous_limits(),
    }
    return load_settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=TEST_SECRET,
        **(defaults | overrides),
    )


@pytest.fixture
async def harness(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_app(database_url, tmp_path) as running:
        yield running


@asynccontextmanager
async def running_app(
    database_url: str,
    tmp_path: Path,
    *,
    fresh: bool = True,
    clock: MovableClock | None = None,
    fast_paths: bool = True,
    **overrides: Any,
) -> AsyncIterator[Harness]:
    """The app on ``database_url`` with settings overrides, behind an HTTP client.

    ``fresh`` starts from empty tables; a second app on the same database (another API
    process) passes ``fresh=False``.
    """
    clock = clock or MovableClock()
    app = build(make_settings(database_url, tmp_path, **overrides), clock=clock)
    if fresh and database_url.startswith("sqlite"):
        await migrate(app.engine)
    elif fresh:
        await empty_tables(app)
    api = create_app(app, fast_paths=fast_paths)
    transport = httpx.ASGITransport(app=api, client=("203.0.113.7", 51000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://secinfo.test") as client:
            yield Harness(app, client, clock, api)
    finally:
        await app.close()
