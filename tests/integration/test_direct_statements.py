"""The hot statements run straight on the driver (``adapters/sql/direct.py``: asyncpg, or
the embedded default's aiosqlite thread) inside the unit of work's SQLAlchemy
transaction: same rows and counts as through SQLAlchemy, the same ``IntegrityError``,
and the same transaction (rolled back together, committed together, each side seeing
the other's writes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from secinfo.adapters.migrations import migrate
from secinfo.adapters.sql import repositories
from secinfo.adapters.sql.direct import Direct
from secinfo.adapters.sql.tables import verifications
from secinfo.bootstrap import App, build
from secinfo.domain.contacts import Channel
from secinfo.domain.verification import Purpose, Verification
from tests.conftest import empty_tables, make_settings

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def a_verification(number: int) -> Verification:
    return Verification(
        id=f"ver_direct{number}",
        purpose=Purpose.INTEGRATOR,
        channel=Channel.EMAIL,
        destination=f"person{number}@example.com",
        api_key_id="key_direct",
        locale="en",
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
    )


async def fresh(database_url: str, tmp_path: Path) -> App:
    app = build(make_settings(database_url, tmp_path))
    if database_url.startswith("sqlite"):
        await migrate(app.engine)
    else:
        await empty_tables(app)
    return app


async def test_direct_statements_share_the_unit_of_works_transaction(
    database_url: str, tmp_path: Path
) -> None:
    app = await fresh(database_url, tmp_path)
    try:
        async with app.deps.uow() as uow:
            direct = uow.verifications.direct
            # Really on the driver: asyncpg, or the one-hop aiosqlite connection.
            assert direct._adapter if direct.dialect.name == "postgresql" else direct._sqlite
            await uow.verifications.add(a_verification(1))
            # SQLAlchemy on the same connection sees the direct insert: one transaction.
            seen = await uow.verifications.connection.scalar(
                sa.select(sa.func.count()).select_from(verifications)
            )
            assert seen == 1
            # Not committed: rolled back with the unit of work.
        async with app.deps.uow() as uow:
            assert await uow.verifications.get("ver_direct1") is None
            await uow.verifications.add(a_verification(2))
            await uow.commit()
        async with app.deps.uow() as uow:
            direct = await uow.verifications.get_for_update("ver_direct2")
            assert direct is not None
            # The same row through SQLAlchemy: equal, field for field (types included).
            row = (
                await uow.verifications.connection.execute(
                    repositories._VERIFICATION_BY_ID, {"p_id": "ver_direct2"}
                )
            ).first()
            assert row is not None
            through_sqlalchemy = uow.verifications._load(row)
            assert direct == through_sqlalchemy
            assert direct.created_at == NOW and direct.created_at.tzinfo is not None
            assert direct.destination == "person2@example.com"  # unsealed
            direct.check_attempts = 1
            await uow.verifications.update(direct)
            await uow.commit()
        async with app.deps.uow() as uow:
            again = await uow.verifications.get("ver_direct2")
            assert again is not None and again.check_attempts == 1
            # A second pending start for the same destination: the unique index refuses
            # it, as SQLAlchemy's IntegrityError, which the repository turns into a retry.
            twin = a_verification(2)
            twin.id = "ver_direct3"
            with pytest.raises(repositories.ConcurrentUpdate) as refused:
                await uow.verifications.add(twin)
            # The statement's parameters (the row, its sealed contact) stay out of it.
            assert isinstance(refused.value.__cause__, sa.exc.IntegrityError)
            message = str(refused.value.__cause__)
            assert "ver_direct3" not in message and "person2@example.com" not in message
            assert "parameters hidden" in message
    finally:
        await app.close()


async def test_counts_and_rows_match_sqlalchemys(database_url: str, tmp_path: Path) -> None:
    app = await fresh(database_url, tmp_path)
    try:
        async with app.deps.uow() as uow:
            for number in (4, 5):
                await uow.verifications.add(a_verification(number))
            connection = uow.verifications.connection
            direct = Direct(connection)
            params: dict[str, Any] = {"p_id": "ver_direct4"}
            by_sqlalchemy = [
                dict(row._mapping)
                for row in await connection.execute(repositories._VERIFICATION_BY_ID, params)
            ]
            by_driver = await direct.execute(repositories._VERIFICATION_BY_ID, params, rows=True)
            assert by_driver.rows == by_sqlalchemy and len(by_sqlalchemy) == 1
            values = uow.verifications._values(a_verification(4))
            update = {**values, "version": 2, "p_id": "ver_direct4", "p_version": 1}
            changed = await direct.execute(repositories._VERIFICATION_UPDATE, update)
            assert changed.rowcount == 1
            stale = await direct.execute(repositories._VERIFICATION_UPDATE, update)
            assert stale.rowcount == 0  # the version moved on
            missing = await direct.execute(
                repositories._VERIFICATION_BY_ID, {"p_id": "ver_none"}, rows=True
            )
            assert missing.first() is None
    finally:
        await app.close()
