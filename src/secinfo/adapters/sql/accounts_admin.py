"""Operator queries on accounts: emails held by more than one account under one key.

Before names were compared on their case-folded form, ``Case-User@x`` could sign up a
second account beside ``case-user@x``. Nothing merges them silently; this lists them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.contacts_at_rest import unseal
from secinfo.adapters.sql.repositories import VALUE
from secinfo.adapters.sql.tables import accounts, security_info
from secinfo.domain.contacts import contact_key
from secinfo.domain.model import InfoState


@dataclass(frozen=True)
class Holder:
    account_id: str
    account_status: str
    item_id: str
    value: str
    state: str
    sign_in: bool
    added_at: datetime


@dataclass(frozen=True)
class DuplicateGroup:
    key: str
    holders: list[Holder]


async def case_duplicates(engine: AsyncEngine, box: SecretBox) -> list[DuplicateGroup]:
    """Keys whose (not removed) security info belongs to two or more accounts (values
    are sealed: every one is opened and keyed here)."""
    query = (
        sa.select(
            security_info.c.id,
            security_info.c.account_id,
            security_info.c.value,
            security_info.c.state,
            security_info.c.sign_in,
            security_info.c.added_at,
            accounts.c.status,
        )
        .join(accounts, accounts.c.id == security_info.c.account_id)
        .where(security_info.c.state != InfoState.REMOVED.value)
        .order_by(security_info.c.added_at, security_info.c.id)
    )
    groups: dict[str, list[Holder]] = defaultdict(list)
    async with engine.connect() as connection:
        for row in await connection.execute(query):
            value = unseal(box, VALUE, row.id, row.value)
            groups[contact_key(value)].append(
                Holder(
                    account_id=row.account_id,
                    account_status=row.status,
                    item_id=row.id,
                    value=value,
                    state=row.state,
                    sign_in=bool(row.sign_in),
                    added_at=row.added_at,
                )
            )
    return [
        DuplicateGroup(key, holders)
        for key, holders in groups.items()
        if len({holder.account_id for holder in holders}) > 1
    ]
