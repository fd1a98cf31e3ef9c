"""webhooks: endpoints, admin-scoped API keys, an index for an endpoint's deliveries

Revision ID: 0008_webhooks
Revises: 0007_one_pending_verification
Create Date: 2026-12-03 07:00:00

Existing API keys keep reaching the Verify API (scope 'verification').
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_webhooks"
down_revision: str | None = "0007_one_pending_verification"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(16), nullable=False, server_default="verification")
        )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("description", sa.String(200)),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disabled_reason", sa.String(200)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text()),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
    )
    op.create_index(
        "ix_outbox_channel_destination", "outbox", ["channel", "destination", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_channel_destination", table_name="outbox")
    op.drop_table("webhook_endpoints")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scope")
