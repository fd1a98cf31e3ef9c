"""operators: accounts that may use the operator pages (/admin)

Revision ID: 0013_operators
Revises: 0011_account_closure
Create Date: 2026-12-03 11:00:00

``secinfo operator create SIGN_IN_NAME`` adds a verified account here; the operator
pages under /admin answer only its sessions (after a fresh step-up).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_operators"
down_revision: str | None = "0011_account_closure"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_operators_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_operators"),
    )


def downgrade() -> None:
    op.drop_table("operators")
