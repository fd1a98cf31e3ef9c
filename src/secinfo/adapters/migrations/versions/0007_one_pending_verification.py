"""verifications: one pending Verify-API verification per (API key, channel, destination)

Revision ID: 0007_one_pending_verification
Revises: 0006_authenticators
Create Date: 2026-12-02 15:45:00

Concurrent starts for one ``to`` could each insert a pending verification. Before the
partial unique index is created, earlier duplicates (all but the newest pending one of
each group) are marked expired: their codes stop working, the newest keeps its id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_one_pending_verification"
down_revision: str | None = "0006_authenticators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "status = 'pending' AND api_key_id IS NOT NULL"


def upgrade() -> None:
    op.execute(
        sa.text(
            f"""
            UPDATE verifications SET status = 'expired', version = version + 1
            WHERE {WHERE} AND EXISTS (
                SELECT 1 FROM verifications AS newer
                WHERE newer.status = 'pending'
                  AND newer.api_key_id = verifications.api_key_id
                  AND newer.channel = verifications.channel
                  AND newer.destination = verifications.destination
                  AND (newer.created_at > verifications.created_at
                       OR (newer.created_at = verifications.created_at
                           AND newer.id > verifications.id))
            )
            """
        )
    )
    op.create_index(
        "ux_verifications_pending_api",
        "verifications",
        ["api_key_id", "channel", "destination"],
        unique=True,
        sqlite_where=sa.text(WHERE),
        postgresql_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ux_verifications_pending_api", table_name="verifications")
