"""twilio verify: credentials, services, rate limits and buckets

Revision ID: 0010_twilio_verify
Revises: 0009_passkeys
Create Date: 2026-12-03 07:10:00

The Twilio Verify v2-compatible front end (``/twilio/v2``). Its verifications are rows
of ``verifications`` owned by a service sid (in ``api_key_id``), as native ones are owned
by an API key: no second table of codes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_twilio_verify"
down_revision: str | None = "0009_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SID = sa.String(34)


def upgrade() -> None:
    op.create_table(
        "twilio_accounts",
        sa.Column("sid", SID, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("token_hash", name="uq_twilio_accounts_token_hash"),
    )
    op.create_table(
        "twilio_services",
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
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_twilio_services_account", "twilio_services", ["account_sid", "created_at", "sid"]
    )
    op.create_table(
        "twilio_rate_limits",
        sa.Column("sid", SID, primary_key=True),
        sa.Column("service_sid", SID, nullable=False),
        sa.Column("account_sid", SID, nullable=False),
        sa.Column("unique_name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(255)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "service_sid", "unique_name", name="uq_twilio_rate_limits_service_sid_unique_name"
        ),
    )
    op.create_table(
        "twilio_buckets",
        sa.Column("sid", SID, primary_key=True),
        sa.Column("rate_limit_sid", SID, nullable=False),
        sa.Column("service_sid", SID, nullable=False),
        sa.Column("account_sid", SID, nullable=False),
        sa.Column("max", sa.Integer(), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_twilio_buckets_rate_limit", "twilio_buckets", ["rate_limit_sid"])


def downgrade() -> None:
    op.drop_index("ix_twilio_buckets_rate_limit", table_name="twilio_buckets")
    op.drop_table("twilio_buckets")
    op.drop_table("twilio_rate_limits")
    op.drop_index("ix_twilio_services_account", table_name="twilio_services")
    op.drop_table("twilio_services")
    op.drop_table("twilio_accounts")
