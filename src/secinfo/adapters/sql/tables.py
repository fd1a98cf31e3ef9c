"""SQLAlchemy Core tables. Alembic migrations in ``adapters/migrations`` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


ID = sa.String(40)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_sign_in_at", UTCDateTime()),
    sa.Column("password_changed_at", UTCDateTime()),
)

security_info = sa.Table(
    "security_info",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(320), nullable=False),
    sa.Column("label", sa.String(64)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("sign_in", sa.Boolean(), nullable=False),
    sa.Column("added_at", UTCDateTime(), nullable=False),
    sa.Column("verified_at", UTCDateTime()),
    sa.Column("last_used_at", UTCDateTime()),
    sa.Column("removed_at", UTCDateTime()),
    sa.Index("ix_security_info_account_id", "account_id"),
    sa.Index(
        "uq_security_info_sign_in_name",
        "value",
        unique=True,
        sqlite_where=sa.text("sign_in = 1 AND state = 'active'"),
        postgresql_where=sa.text("sign_in AND state = 'active'"),
    ),
)

verifications = sa.Table(
    "verifications",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("destination", sa.String(320), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("account_id", ID),
    sa.Column("api_key_id", ID),
    sa.Column("subject_id", ID),
    sa.Column("session_id", ID),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("check_attempts", sa.Integer(), nullable=False),
    sa.Column("send_attempts", sa.Integer(), nullable=False),
    sa.Column("codes", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("last_sent_at", UTCDateTime()),
    sa.Column("approved_at", UTCDateTime()),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Index("ix_verifications_lookup", "api_key_id", "destination", "status"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("privileged_until", UTCDateTime()),
    sa.Column("revoked_at", UTCDateTime()),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(512)),
    sa.Index("ix_sessions_account_id", "account_id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime()),
    sa.Column("last_used_at", UTCDateTime()),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("destination", sa.String(320), nullable=False),
    sa.Column("template", sa.String(64), nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("carries_secret", sa.Boolean(), nullable=False),
    sa.Column("verification_id", ID),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime()),
    sa.Column("lease_until", UTCDateTime()),
    sa.Column("worker_id", sa.String(64)),
    sa.Column("last_error", sa.String(500)),
    sa.Column("provider_message_id", sa.String(255)),
    sa.Column("sent_at", UTCDateTime()),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_verification_id", "verification_id"),
)

dev_mailbox = sa.Table(
    "dev_mailbox",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("message_id", ID, nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("destination", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

activity_events = sa.Table(
    "activity_events",
    metadata,
    # Insertion order: events of one instant still page in the order they happened.
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("id", ID, nullable=False, unique=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(512)),
    sa.Column("country", sa.String(2)),
    sa.Column("details", sa.Text(), nullable=False),
    sa.Index("ix_activity_events_account_seq", "account_id", "seq"),
)

# One row per delivery attempt of an outbox message: when, by whom, what happened.
delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("message_id", ID, nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("worker_id", sa.String(64)),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("provider_message_id", sa.String(255)),
    sa.Column("error", sa.String(500)),
    sa.Index("ix_delivery_attempts_message_id", "message_id"),
)
