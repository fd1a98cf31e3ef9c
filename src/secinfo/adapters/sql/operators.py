"""Which accounts may use the operator pages (``operators``, migration 0013)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from secinfo.adapters.sql.tables import operators
from secinfo.ports import OperatorRecord


class SqlOperators:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, account_id: str, now: datetime) -> bool:
        if await self.get(account_id) is not None:
            return False
        await self.connection.execute(
            operators.insert().values(account_id=account_id, created_at=now)
        )
        return True

    async def remove(self, account_id: str) -> bool:
        result = await self.connection.execute(
            operators.delete().where(operators.c.account_id == account_id)
        )
        return bool(result.rowcount)

    async def get(self, account_id: str) -> OperatorRecord | None:
        row = (
            await self.connection.execute(
                operators.select().where(operators.c.account_id == account_id)
            )
        ).first()
        return OperatorRecord(row.account_id, row.created_at) if row else None

    async def list(self) -> list[OperatorRecord]:
        rows = await self.connection.execute(
            sa.select(operators).order_by(operators.c.created_at, operators.c.account_id)
        )
        return [OperatorRecord(row.account_id, row.created_at) for row in rows]
