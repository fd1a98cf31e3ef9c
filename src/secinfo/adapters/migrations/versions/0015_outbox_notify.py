"""outbox_notify: on PostgreSQL, a queued message wakes the listening workers

Revision ID: 0015_outbox_notify
Revises: 0014_contacts_at_rest
Create Date: 2026-12-03 11:30:00

An insert into ``outbox`` sends ``NOTIFY secinfo_outbox`` (once per statement, delivered
when its transaction commits); workers ``LISTEN`` and claim at once instead of waiting
for their next poll. SQLite has no notifications: its workers keep polling.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_outbox_notify"
down_revision: str | None = "0014_contacts_at_rest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION secinfo_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('secinfo_outbox', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION secinfo_outbox_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS secinfo_outbox_notify()")
