"""passkeys: credentials on security info, a user handle per account, ceremony challenges

Revision ID: 0009_passkeys
Revises: 0008_webhooks
Create Date: 2026-12-03 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0009_passkeys"
down_revision: str | None = "0008_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN and unique indexes, no batch copy: on SQLite a batch would drop and
    # recreate ``accounts``, and every row referencing it would go with it (ON DELETE
    # CASCADE).
    op.add_column("accounts", sa.Column("passkey_user_handle", sa.String(64), nullable=True))
    op.create_index(
        "uq_accounts_passkey_user_handle", "accounts", ["passkey_user_handle"], unique=True
    )
    op.add_column("security_info", sa.Column("credential_id", sa.String(1400), nullable=True))
    op.add_column("security_info", sa.Column("public_key", sa.Text(), nullable=True))
    op.add_column("security_info", sa.Column("aaguid", sa.String(36), nullable=True))
    op.create_index(
        "uq_security_info_credential_id", "security_info", ["credential_id"], unique=True
    )
    op.create_table(
        "passkey_challenges",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("challenge", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=True),
        sa.Column("flow_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_passkey_challenges_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_passkey_challenges"),
    )
    op.create_index(
        "ix_passkey_challenges_expires_at", "passkey_challenges", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_passkey_challenges_expires_at", table_name="passkey_challenges")
    op.drop_table("passkey_challenges")
    op.drop_index("uq_security_info_credential_id", table_name="security_info")
    with op.batch_alter_table("security_info", schema=None) as batch_op:
        batch_op.drop_column("aaguid")
        batch_op.drop_column("public_key")
        batch_op.drop_column("credential_id")
    op.drop_index("uq_accounts_passkey_user_handle", table_name="accounts")
    op.drop_column("accounts", "passkey_user_handle")
