"""security_info.value_key: names compared on the case-folded, NFKC-normalised contact

Revision ID: 0005_contact_keys
Revises: 0004_blocked_prefixes
Create Date: 2026-12-02 14:20:00

Every row gets its key. Sign-in names that were already case-duplicates of one another
(``Case-User@x`` beside ``case-user@x``, separate accounts) are not merged: the oldest
keeps the key, each later one gets ``<key>#duplicate:<id>`` so the unique index holds,
and keeps signing in with its own spelling. ``secinfo accounts duplicates`` lists them
for the operator.
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_contact_keys"
down_revision: str | None = "0004_blocked_prefixes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE_SQLITE = sa.text("sign_in = 1 AND state <> 'pending'")
WHERE_POSTGRESQL = sa.text("sign_in AND state <> 'pending'")


def _key(value: str) -> str:
    """The rule as of this revision (domain.contacts.contact_key), frozen here."""
    if "@" not in value:
        return value
    local, _, domain = value.rpartition("@")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", local).casefold())
    return f"{folded}@{domain.lower()}"


def upgrade() -> None:
    with op.batch_alter_table("security_info", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_key", sa.String(length=400), nullable=True))
    bind = op.get_bind()
    table = sa.table(
        "security_info",
        sa.column("id", sa.String),
        sa.column("value", sa.String),
        sa.column("value_key", sa.String),
        sa.column("sign_in", sa.Boolean),
        sa.column("state", sa.String),
        sa.column("added_at", sa.DateTime),
    )
    rows = bind.execute(
        sa.select(table.c.id, table.c.value, table.c.sign_in, table.c.state).order_by(
            table.c.added_at, table.c.id
        )
    ).all()
    names: set[str] = set()
    for row in rows:
        key = _key(row.value)
        if row.sign_in and row.state != "pending":
            if key in names:
                key = f"{key}#duplicate:{row.id}"
            else:
                names.add(key)
        bind.execute(table.update().where(table.c.id == row.id).values(value_key=key))
    with op.batch_alter_table("security_info", schema=None) as batch_op:
        batch_op.create_index(
            "uq_security_info_sign_in_key",
            ["value_key"],
            unique=True,
            sqlite_where=WHERE_SQLITE,
            postgresql_where=WHERE_POSTGRESQL,
        )


def downgrade() -> None:
    with op.batch_alter_table("security_info", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_security_info_sign_in_key",
            sqlite_where=WHERE_SQLITE,
            postgresql_where=WHERE_POSTGRESQL,
        )
        batch_op.drop_column("value_key")
