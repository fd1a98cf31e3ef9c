"""Re-seal everything sealed with an older encryption key under the first (sealing) key,
so the old key can be dropped from SECINFO_ENCRYPTION_KEYS.

Each value is rewritten only if it is still the one read (a concurrent writer wins), in
batches of one transaction each. The blind index does not change: it is keyed with
SECINFO_CONTACT_INDEX_KEY, not with the encryption keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from secinfo.adapters.secretbox import PREFIX, SecretBox
from secinfo.adapters.sql.tables import outbox, security_info, verifications, webhook_endpoints


@dataclass(frozen=True)
class Sealed:
    """A sealed column and the associated data its values are bound to (by row id)."""

    column: sa.Column[str]
    associated: Callable[[str], str]

    @property
    def name(self) -> str:
        return f"{self.column.table.name}.{self.column.name}"


SEALED_COLUMNS = (
    Sealed(security_info.c.value, lambda row_id: f"security_info.value:{row_id}"),
    Sealed(security_info.c.secret, lambda row_id: row_id),
    Sealed(verifications.c.destination, lambda row_id: f"verifications.destination:{row_id}"),
    Sealed(outbox.c.destination, lambda row_id: f"outbox.destination:{row_id}"),
    Sealed(outbox.c.body, lambda row_id: row_id),
    Sealed(webhook_endpoints.c.secret, lambda row_id: f"{row_id}:secret"),
    Sealed(webhook_endpoints.c.previous_secret, lambda row_id: f"{row_id}:previous"),
)


async def reseal(engine: AsyncEngine, box: SecretBox, batch: int = 500) -> dict[str, int]:
    """Values re-sealed per column ("table.column")."""
    current = f"{PREFIX}:{box.sealing_key_id}:"
    counts: dict[str, int] = {}
    for sealed in SEALED_COLUMNS:
        column = sealed.column
        table = column.table
        done = 0
        after = ""
        while True:
            async with engine.begin() as connection:
                rows = (
                    await connection.execute(
                        sa.select(table.c.id, column)
                        .where(
                            column.startswith(PREFIX + ":"),
                            sa.not_(column.startswith(current)),
                            table.c.id > after,
                        )
                        .order_by(table.c.id)
                        .limit(batch)
                    )
                ).all()
                for row_id, value in rows:
                    associated = sealed.associated(row_id)
                    fresh = box.seal(box.open(value, associated), associated)
                    result = await connection.execute(
                        table.update()
                        .where(table.c.id == row_id, column == value)
                        .values({column.name: fresh})
                    )
                    done += result.rowcount
            if len(rows) < batch:
                break
            after = rows[-1][0]
        counts[sealed.name] = done
    return counts
