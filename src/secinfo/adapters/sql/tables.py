"""SQLAlchemy Core tables. Alembic migrations in ``adapters/migrations`` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from secinfo.domain.model import MAX_LOCK_REASON_LENGTH

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
    sa.Column("two_step_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("password_reset_required", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("reconfirm_prompted_at", UTCDateTime()),
    sa.Column("reconfirm_skipped_until", UTCDateTime()),
    sa.Column("passkey_user_handle", sa.String(64)),
    sa.Index("uq_accounts_passkey_user_handle", "passkey_user_handle", unique=True),
    sa.Column("closed_at", UTCDateTime()),
    sa.Column("erase_at", UTCDateTime()),
    sa.Column("erased_at", UTCDateTime()),
    sa.Index("ix_accounts_erase_due", "status", "erase_at"),
    sa.Column("locked_at", UTCDateTime()),
    sa.Column("locked_reason", sa.String(MAX_LOCK_REASON_LENGTH)),
    sa.Column("locked_by", sa.String(200)),
)

security_info = sa.Table(
    "security_info",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    # Sealed (contacts_at_rest: bound to the row); never compared in SQL.
    sa.Column("value", sa.Text(), nullable=False),
    # The blind index of contact_key(value): what names are looked up and kept unique on
    # (one mailbox, one name). Rows that were case-duplicates before keys existed carry
    # "<key's index>#<own spelling's index>" (migrations 0005 and 0014, `secinfo
    # accounts duplicates`).
    sa.Column("value_key", sa.String(400)),
    sa.Column("label", sa.String(64)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("sign_in", sa.Boolean(), nullable=False),
    sa.Column("added_at", UTCDateTime(), nullable=False),
    sa.Column("verified_at", UTCDateTime()),
    sa.Column("last_used_at", UTCDateTime()),
    sa.Column("removed_at", UTCDateTime()),
    sa.Column("secret", sa.Text()),
    sa.Column("last_step", sa.BigInteger()),
    sa.Column("credential_id", sa.String(1400)),
    sa.Column("public_key", sa.Text()),
    sa.Column("aaguid", sa.String(36)),
    sa.Index("ix_security_info_account_id", "account_id"),
    sa.Index("uq_security_info_credential_id", "credential_id", unique=True),
    sa.Index(
        "uq_security_info_sign_in_key",
        "value_key",
        unique=True,
        sqlite_where=sa.text("sign_in = 1 AND state <> 'pending'"),
        postgresql_where=sa.text("sign_in AND state <> 'pending'"),
    ),
)

verifications = sa.Table(
    "verifications",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    # Sealed; looked up by the blind index of its spelling (destination_lookup) and,
    # for the person's data, of its key (destination_key).
    sa.Column("destination", sa.Text(), nullable=False),
    sa.Column("destination_lookup", sa.String(64)),
    sa.Column("destination_key", sa.String(64)),
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
    sa.Index("ix_verifications_lookup", "api_key_id", "destination_lookup", "status"),
    sa.Index("ix_verifications_destination_key", "destination_key"),
    # One pending Verify-API verification per (API key, channel, destination): concurrent
    # starts for one ``to`` serialise here, the losers resend on the winner's id.
    sa.Index(
        "ux_verifications_pending_api",
        "api_key_id",
        "channel",
        "destination_lookup",
        unique=True,
        sqlite_where=sa.text("status = 'pending' AND api_key_id IS NOT NULL"),
        postgresql_where=sa.text("status = 'pending' AND api_key_id IS NOT NULL"),
    ),
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
    sa.Column("scope", sa.String(16), nullable=False, server_default="verification"),
)

# Accounts that may use the operator pages (/admin): ``secinfo operator create`` adds one.
operators = sa.Table(
    "operators",
    metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("channel", sa.String(16), nullable=False),
    # An email's or SMS's: sealed like a body, wiped ("") once the message can never be
    # sent again; its masked form stays for the delivery log, its key's blind index for
    # the person's data. A webhook's: the endpoint's id, as it is.
    sa.Column("destination", sa.Text(), nullable=False),
    sa.Column("destination_masked", sa.String(400)),
    sa.Column("destination_key", sa.String(64)),
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
    # A webhook endpoint's deliveries, newest first.
    sa.Index("ix_outbox_channel_destination", "channel", "destination", "created_at"),
    sa.Index("ix_outbox_destination_key", "destination_key"),
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


def _account_fk() -> sa.ForeignKey:
    return sa.ForeignKey("accounts.id", ondelete="CASCADE")


pending_changes = sa.Table(
    "pending_changes",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, _account_fk(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("item_ids", sa.Text(), nullable=False),
    sa.Column("new_item_id", ID),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("ends_at", UTCDateTime(), nullable=False),
    sa.Column("next_reminder_at", UTCDateTime(), nullable=False),
    sa.Column("canceled_at", UTCDateTime()),
    sa.Column("completed_at", UTCDateTime()),
    sa.Index("ix_pending_changes_account", "account_id", "status"),
    sa.Index("ix_pending_changes_due", "status", "ends_at"),
    # At most one pending change per account, enforced by the database.
    sa.Index(
        "uq_pending_changes_one_per_account",
        "account_id",
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, _account_fk(), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("user_agent", sa.String(512)),
    sa.Index("ix_devices_account_token", "account_id", "token_hash", unique=True),
)

known_networks = sa.Table(
    "known_networks",
    metadata,
    sa.Column("account_id", ID, _account_fk(), primary_key=True),
    sa.Column("network", sa.String(64), primary_key=True),
    sa.Column("country", sa.String(2)),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
)

sign_in_challenges = sa.Table(
    "sign_in_challenges",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, _account_fk(), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(512)),
    sa.Column("device_id", ID),
    sa.Column("skippable", sa.Boolean(), nullable=False),
    sa.Column("completed_at", UTCDateTime()),
)

passkey_challenges = sa.Table(
    "passkey_challenges",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("challenge", sa.String(64), nullable=False),
    sa.Column("account_id", ID, _account_fk()),
    sa.Column("flow_id", ID),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime()),
    sa.Index("ix_passkey_challenges_expires_at", "expires_at"),
)

recoveries = sa.Table(
    "recoveries",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, _account_fk()),
    sa.Column("contacts", sa.Text(), nullable=False),
    sa.Column("proofs_needed", sa.Integer(), nullable=False),
    sa.Column("proven_item_ids", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("completed_at", UTCDateTime()),
)

billing_profiles = sa.Table(
    "billing_profiles",
    metadata,
    sa.Column("account_id", ID, _account_fk(), primary_key=True),
    sa.Column("profile", sa.Text(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
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

blocked_prefixes = sa.Table(
    "blocked_prefixes",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("prefix", sa.String(24), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("blocked_at", UTCDateTime(), nullable=False),
    sa.Column("until", UTCDateTime(), nullable=False),
    sa.Column("sends", sa.Integer(), nullable=False),
    sa.Column("conversions", sa.Integer(), nullable=False),
    sa.Column("lifted_at", UTCDateTime()),
    sa.Index("ix_blocked_prefixes_prefix", "prefix", "until"),
)

# Operators' webhook endpoints. Secrets are sealed with the encryption keys (bound to the
# endpoint id); their deliveries are outbox rows with channel 'webhook' and the endpoint's
# id as destination.
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("description", sa.String(200)),
    sa.Column("events", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("disabled_reason", sa.String(200)),
    sa.Column("disabled_at", UTCDateTime()),
    sa.Column("secret", sa.Text(), nullable=False),
    sa.Column("previous_secret", sa.Text()),
    sa.Column("previous_secret_expires_at", UTCDateTime()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# The Twilio Verify v2-compatible front end (migration 0010). Sids are Twilio's: two
# letters and 32 hex digits.
SID = sa.String(34)

twilio_accounts = sa.Table(
    "twilio_accounts",
    metadata,
    sa.Column("sid", SID, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime()),
    sa.Column("last_used_at", UTCDateTime()),
)

twilio_services = sa.Table(
    "twilio_services",
    metadata,
    sa.Column("sid", SID, primary_key=True),
    sa.Column("account_sid", SID, nullable=False),
    sa.Column("friendly_name", sa.String(64), nullable=False),
    sa.Column("code_length", sa.Integer(), nullable=False),
    sa.Column("lookup_enabled", sa.Boolean(), nullable=False),
    sa.Column("psd2_enabled", sa.Boolean(), nullable=False),
    sa.Column("skip_sms_to_landlines", sa.Boolean(), nullable=False),
    sa.Column("dtmf_input_required", sa.Boolean(), nullable=False),
    sa.Column("tts_name", sa.String(64)),
    sa.Column("do_not_share_warning_enabled", sa.Boolean(), nullable=False),
    sa.Column("custom_code_enabled", sa.Boolean(), nullable=False),
    sa.Column("default_template_sid", SID),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_twilio_services_account", "account_sid", "created_at", "sid"),
)

twilio_rate_limits = sa.Table(
    "twilio_rate_limits",
    metadata,
    sa.Column("sid", SID, primary_key=True),
    sa.Column("service_sid", SID, nullable=False),
    sa.Column("account_sid", SID, nullable=False),
    sa.Column("unique_name", sa.String(100), nullable=False),
    sa.Column("description", sa.String(255)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("service_sid", "unique_name"),
)

twilio_buckets = sa.Table(
    "twilio_buckets",
    metadata,
    sa.Column("sid", SID, primary_key=True),
    sa.Column("rate_limit_sid", SID, nullable=False),
    sa.Column("service_sid", SID, nullable=False),
    sa.Column("account_sid", SID, nullable=False),
    sa.Column("max", sa.Integer(), nullable=False),
    sa.Column("interval", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_twilio_buckets_rate_limit", "rate_limit_sid"),
)
