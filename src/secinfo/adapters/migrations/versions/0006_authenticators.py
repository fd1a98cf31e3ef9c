"""authenticator secrets and recovery codes on security info

Revision ID: 0006_authenticators
Revises: 0005_contact_keys
Create Date: 2026-12-02 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_authenticators"
down_revision: str | None = "0005_contact_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("security_info", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("security_info", schema=None) as batch_op:
        batch_op.drop_column("last_step")
        batch_op.drop_column("secret")
