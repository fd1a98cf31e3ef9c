"""accounts: operator locks (locked_at, locked_reason, locked_by)

Revision ID: 0012_account_locks
Revises: 0013_operators
Create Date: 2026-12-03 11:10:00

An operator locks an account through the admin API, the CLI or the operator pages: no
sign-in of any kind until it is unlocked. Only conditional writes set or clear these.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_account_locks"
down_revision: str | None = "0013_operators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("locked_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("locked_reason", sa.String(500)))
        batch.add_column(sa.Column("locked_by", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("locked_by")
        batch.drop_column("locked_reason")
        batch.drop_column("locked_at")
