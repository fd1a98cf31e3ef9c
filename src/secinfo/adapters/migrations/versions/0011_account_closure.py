"""accounts: closure and erasure (closed_at, erase_at, erased_at)

Revision ID: 0011_account_closure
Revises: 0010_twilio_verify
Create Date: 2026-12-03 07:10:00

A closed account waits ``erase_at`` for the scheduler to erase its personal data.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_account_closure"
down_revision: str | None = "0010_twilio_verify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("erase_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True)))
    op.create_index("ix_accounts_erase_due", "accounts", ["status", "erase_at"])


def downgrade() -> None:
    op.drop_index("ix_accounts_erase_due", table_name="accounts")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("erase_at")
        batch.drop_column("closed_at")
