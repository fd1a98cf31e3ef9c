"""The hottest statements straight on the driver, inside the unit of work's transaction.

SQLAlchemy's execution layer (a greenlet switch, an execution context, parameter and
result processing per statement) costs about as much CPU as asyncpg itself: ~0.65 ms
for a two-statement transaction against 0.72 ms for asyncpg alone on the benchmark box.
For the statements every Verify API call and every delivery runs, :class:`Direct`
renders the SQL once per statement and set of keys with SQLAlchemy's own compiler for
the engine's dialect (the same text SQLAlchemy sends, casts included), binds with
SQLAlchemy's own bind processors, runs it on the asyncpg connection under the unit of
work's SQLAlchemy connection, and converts the result with the columns' own result
processors. The transaction is SQLAlchemy's: the statement starts it the way
SQLAlchemy's cursor would, and the unit of work commits or rolls it back as before.

A unique violation still surfaces as ``sqlalchemy.exc.IntegrityError``. On SQLite (the
embedded default's one-hop aiosqlite driver) the same rendered statement runs in one call
on the connection's thread, inside the transaction sqlite3 keeps for the connection; on
any other driver it runs through SQLAlchemy unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from secinfo.adapters.sql.sqlite_driver import OneHopConnection
from secinfo.adapters.sql.sqlite_driver import _run as run_statement

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Rendered:
    statement: sa.Executable  # kept alive: its id is the cache key
    sql: str
    compiled: Any  # sqlalchemy.sql.compiler.SQLCompiler
    positions: tuple[str, ...]
    binds: dict[str, Processor]
    results: dict[str, Processor]


_rendered: dict[tuple[int, str, tuple[str, ...]], Rendered] = {}


def render(statement: Any, keys: tuple[str, ...], dialect: Dialect) -> Rendered:
    """The statement's SQL for ``dialect`` with parameters ``keys``, compiled once."""
    cache_key = (id(statement), dialect.name, keys)
    found = _rendered.get(cache_key)
    if found is not None:
        return found
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
    positions = tuple(compiled.positiontup or ())
    results: dict[str, Processor] = {}
    for column in getattr(statement, "selected_columns", None) or (
        getattr(statement, "_returning", None) or ()
    ):
        processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if processor is not None:
            results[column.name] = processor
    rendered = Rendered(
        statement=statement,
        sql=compiled.string,
        compiled=compiled,
        positions=positions,
        binds=dict(compiled._bind_processors),
        results=results,
    )
    _rendered[cache_key] = rendered
    return rendered


class Result:
    """What a statement gave: its rows as dicts, and how many rows it changed."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[dict[str, Any]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def first(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows else None


class Direct:
    """Runs module-level statements on a unit of work's connection (see the module)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        sync = connection.sync_connection
        assert sync is not None, "the unit of work's connection is not open"
        self.dialect = sync.dialect
        self._adapter: Any = None
        self._sqlite: Any = None
        if self.dialect.driver == "asyncpg":
            # The pooled connection SQLAlchemy checked out for this unit of work.
            self._adapter = sync.connection.dbapi_connection
        elif isinstance(sync.connection.dbapi_connection, OneHopConnection):
            self._sqlite = sync.connection.dbapi_connection

    async def execute(
        self, statement: sa.Executable, params: Mapping[str, Any], *, rows: bool = False
    ) -> Result:
        if self._adapter is not None:
            return await self._asyncpg(render(statement, tuple(params), self.dialect), params, rows)
        if self._sqlite is not None:
            return await self._sqlite3(render(statement, tuple(params), self.dialect), params)
        result = await self.connection.execute(statement, dict(params))
        fetched = [dict(row._mapping) for row in result] if rows else []
        return Result(fetched, result.rowcount if not rows else len(fetched))

    @staticmethod
    def _args(rendered: Rendered, params: Mapping[str, Any]) -> list[Any]:
        bound = rendered.compiled.construct_params(params)
        binds = rendered.binds
        return [
            binds[name](bound[name]) if name in binds else bound[name]
            for name in rendered.positions
        ]

    @staticmethod
    def _rows(rendered: Rendered, names: list[str], records: Any) -> list[dict[str, Any]]:
        results = [(index, rendered.results.get(name)) for index, name in enumerate(names)]
        converters = [(names[index], index, processor) for index, processor in results]
        return [
            {
                name: processor(record[index]) if processor else record[index]
                for name, index, processor in converters
            }
            for record in records
        ]

    async def _sqlite3(self, rendered: Rendered, params: Mapping[str, Any]) -> Result:
        """The embedded default: the statement's whole life in one call on aiosqlite's
        thread (as :mod:`sqlite_driver` runs SQLAlchemy's), inside the same implicit
        transaction sqlite3 opens for the unit of work."""
        args = self._args(rendered, params)
        adapter = self._sqlite
        connection = adapter._connection
        async with adapter._execute_mutex:
            try:
                description, rowcount, _, records = await connection._execute(
                    run_statement, connection._conn, rendered.sql, args, False
                )
            except sqlite3.IntegrityError as error:
                raise sa.exc.IntegrityError(
                    rendered.sql, args, error, hide_parameters=True
                ) from error
        if not description:
            return Result([], rowcount)
        fetched = self._rows(rendered, [column[0] for column in description], records)
        return Result(fetched, len(fetched))

    async def _asyncpg(self, rendered: Rendered, params: Mapping[str, Any], rows: bool) -> Result:
        import asyncpg

        args = self._args(rendered, params)
        adapter = self._adapter
        async with adapter._execute_mutex:
            if adapter._transaction is None:
                await adapter._start_transaction()  # as SQLAlchemy's cursor does
            try:
                if rows:
                    records = await adapter._connection.fetch(rendered.sql, *args)
                else:
                    status = await adapter._connection.execute(rendered.sql, *args)
            except asyncpg.exceptions.IntegrityConstraintViolationError as error:
                # Without its parameters, as the engine's ``hide_parameters`` does.
                raise sa.exc.IntegrityError(
                    rendered.sql, args, error, hide_parameters=True
                ) from error
        if not rows:
            count = status.rpartition(" ")[2]
            return Result([], int(count) if count.isdigit() else -1)
        names = list(records[0].keys()) if records else []
        fetched = self._rows(rendered, names, records)
        return Result(fetched, len(fetched))
