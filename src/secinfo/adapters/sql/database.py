"""Engines for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from secinfo.adapters.sql.sqlite_driver import OneHopDbapi


def async_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async driver."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+aiosqlite"):
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(
        f"unsupported database URL scheme '{parsed.drivername}': use sqlite:///path or "
        "postgresql://user@host/db"
    )


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine whose errors never carry statement parameters (contacts, hashes)."""
    url = async_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has one writer; queueing in the pool avoids lock errors.
        # aiosqlite with one thread hop per statement (sqlite_driver explains why).
        engine = create_async_engine(
            url,
            module=OneHopDbapi(),
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            hide_parameters=True,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # Up to twice ``pool_size`` connections, all kept open: an "overflow" connection would
    # be closed on every return and reopened on the next busy request (a connect, an SSL
    # probe and authentication each time), which under load cost more than the queries.
    return create_async_engine(
        url,
        pool_size=2 * pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_recycle=1800,
        hide_parameters=True,
    )
