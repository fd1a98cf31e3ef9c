"""contacts at rest: values and destinations sealed, looked up by a keyed blind index

Revision ID: 0014_contacts_at_rest
Revises: 0012_account_locks
Create Date: 2026-12-03 11:20:00

Every contact the service keeps is sealed with the encryption keys (AES-GCM; associated
data "<table>.<column>:<row id>", so a sealed value does not open on another row):
``security_info.value``, ``verifications.destination`` and an email's or SMS's
``outbox.destination``. SQL compares blind indexes instead, HMAC-SHA256 under
SECINFO_CONTACT_INDEX_KEY:

- ``security_info.value_key``: of the contact's key (an old case-duplicate's: the key's
  index, "#", its own spelling's index); the unique index on the plain value goes;
- ``verifications.destination_lookup`` (of the spelling: the one-pending-verification
  index now holds on it) and ``destination_key`` (of the key: the person's data);
- ``outbox.destination_key``, and ``outbox.destination_masked`` for the delivery log. An
  outbox destination that can never be sent to again (sent, expired, or dead with a code)
  is wiped here, as delivery now does.

The keys come from ``secinfo migrate`` (the settings' keys); a database with rows to
convert refuses to migrate without them. Downgrade opens everything back (a wiped outbox
destination comes back as its masked form: it cannot be recovered).
"""

import unicodedata
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0014_contacts_at_rest"
down_revision: str | None = "0012_account_locks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGN_IN_SQLITE = sa.text("sign_in = 1 AND state <> 'pending'")
SIGN_IN_POSTGRESQL = sa.text("sign_in AND state <> 'pending'")
PENDING_API = sa.text("status = 'pending' AND api_key_id IS NOT NULL")
SEALED = "sealed:v1:"
DUPLICATE = "#duplicate:"

security_info = sa.table(
    "security_info",
    sa.column("id", sa.String),
    sa.column("value", sa.String),
    sa.column("value_key", sa.String),
)
verifications = sa.table(
    "verifications",
    sa.column("id", sa.String),
    sa.column("destination", sa.String),
    sa.column("destination_lookup", sa.String),
    sa.column("destination_key", sa.String),
)
outbox = sa.table(
    "outbox",
    sa.column("id", sa.String),
    sa.column("channel", sa.String),
    sa.column("status", sa.String),
    sa.column("carries_secret", sa.Boolean),
    sa.column("destination", sa.String),
    sa.column("destination_masked", sa.String),
    sa.column("destination_key", sa.String),
)


def _key(value: str) -> str:
    """domain.contacts.contact_key as of this revision, frozen here."""
    if "@" not in value:
        return value
    local, _, domain = value.rpartition("@")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", local).casefold())
    return f"{folded}@{domain.lower()}"


def _mask(channel: str, value: str) -> str:
    """domain.contacts.mask as of this revision, frozen here."""
    if channel == "email":
        local, _, domain = value.rpartition("@")
        return f"{local[: min(2, len(local) - 1)]}*****@{domain}"
    digits = [character for character in value if character.isdigit()]
    return "*" * max(len(digits) - 2, 1) + "".join(digits[-2:])


def _box(bind: sa.Connection) -> Any:
    box = context.config.attributes.get("box")
    if box is not None:
        return box
    for table in ("security_info", "verifications", "outbox"):
        if bind.scalar(sa.select(sa.func.count()).select_from(sa.table(table))):
            raise RuntimeError(
                "migration 0014 seals the contacts already stored and needs the keys: run "
                "it with 'secinfo migrate' (SECINFO_ENCRYPTION_KEYS and "
                "SECINFO_CONTACT_INDEX_KEY set as the service has them)"
            )
    return None


def _widen(bind: sa.Connection, to: sa.types.TypeEngine[Any]) -> None:
    """PostgreSQL holds a VARCHAR to its length; a sealed value is longer (SQLite does not
    care)."""
    if bind.dialect.name != "postgresql":
        return
    for table, column in (
        ("security_info", "value"),
        ("verifications", "destination"),
        ("outbox", "destination"),
    ):
        op.alter_column(table, column, type_=to, existing_nullable=False)


def upgrade() -> None:
    bind = op.get_bind()
    box = _box(bind)
    _widen(bind, sa.Text())
    op.drop_index("uq_security_info_sign_in_name", table_name="security_info")
    op.drop_index("ix_verifications_lookup", table_name="verifications")
    op.drop_index("ux_verifications_pending_api", table_name="verifications")
    op.add_column("verifications", sa.Column("destination_lookup", sa.String(64)))
    op.add_column("verifications", sa.Column("destination_key", sa.String(64)))
    op.add_column("outbox", sa.Column("destination_masked", sa.String(400)))
    op.add_column("outbox", sa.Column("destination_key", sa.String(64)))

    if box is not None:
        rows = bind.execute(
            sa.select(security_info.c.id, security_info.c.value, security_info.c.value_key)
        ).all()
        for row in rows:
            if row.value.startswith(SEALED):
                continue
            index = box.blind_index(_key(row.value))
            if row.value_key and DUPLICATE in row.value_key:
                index = f"{index}#{box.blind_index(row.value)}"
            bind.execute(
                security_info.update()
                .where(security_info.c.id == row.id)
                .values(
                    value=box.seal(row.value, f"security_info.value:{row.id}"), value_key=index
                )
            )
        found = bind.execute(sa.select(verifications.c.id, verifications.c.destination)).all()
        for verification in found:
            if verification.destination.startswith(SEALED):
                continue
            plain, bound = verification.destination, f"verifications.destination:{verification.id}"
            bind.execute(
                verifications.update()
                .where(verifications.c.id == verification.id)
                .values(
                    destination=box.seal(plain, bound),
                    destination_lookup=box.blind_index(plain),
                    destination_key=box.blind_index(_key(plain)),
                )
            )
        messages = bind.execute(
            sa.select(
                outbox.c.id,
                outbox.c.channel,
                outbox.c.status,
                outbox.c.carries_secret,
                outbox.c.destination,
            ).where(outbox.c.channel != "webhook")
        ).all()
        for message in messages:
            plain = message.destination
            if plain.startswith(SEALED):
                continue
            ended = message.status in ("sent", "expired") or (
                message.status == "dead" and message.carries_secret
            )
            sealed = box.seal(plain, f"outbox.destination:{message.id}")
            bind.execute(
                outbox.update()
                .where(outbox.c.id == message.id)
                .values(
                    destination="" if ended or not plain else sealed,
                    destination_masked=_mask(message.channel, plain) if plain else "",
                    destination_key=box.blind_index(_key(plain)),
                )
            )

    op.create_index(
        "ix_verifications_lookup",
        "verifications",
        ["api_key_id", "destination_lookup", "status"],
    )
    op.create_index("ix_verifications_destination_key", "verifications", ["destination_key"])
    op.create_index(
        "ux_verifications_pending_api",
        "verifications",
        ["api_key_id", "channel", "destination_lookup"],
        unique=True,
        sqlite_where=PENDING_API,
        postgresql_where=PENDING_API,
    )
    op.create_index("ix_outbox_destination_key", "outbox", ["destination_key"])


def downgrade() -> None:
    bind = op.get_bind()
    box = _box(bind)
    op.drop_index("ix_outbox_destination_key", table_name="outbox")
    op.drop_index("ux_verifications_pending_api", table_name="verifications")
    op.drop_index("ix_verifications_destination_key", table_name="verifications")
    op.drop_index("ix_verifications_lookup", table_name="verifications")

    if box is not None:
        rows = bind.execute(
            sa.select(security_info.c.id, security_info.c.value, security_info.c.value_key)
        ).all()
        for row in rows:
            value = box.open(row.value, f"security_info.value:{row.id}")
            key = _key(value)
            if row.value_key and "#" in row.value_key:
                key = f"{key}{DUPLICATE}{row.id}"
            bind.execute(
                security_info.update()
                .where(security_info.c.id == row.id)
                .values(value=value, value_key=key)
            )
        found = bind.execute(sa.select(verifications.c.id, verifications.c.destination)).all()
        for verification in found:
            bound = f"verifications.destination:{verification.id}"
            bind.execute(
                verifications.update()
                .where(verifications.c.id == verification.id)
                .values(destination=box.open(verification.destination, bound))
            )
        messages = bind.execute(
            sa.select(outbox.c.id, outbox.c.destination, outbox.c.destination_masked).where(
                outbox.c.channel != "webhook"
            )
        ).all()
        for message in messages:
            destination = (
                box.open(message.destination, f"outbox.destination:{message.id}")
                if message.destination
                else message.destination_masked or ""
            )
            bind.execute(
                outbox.update().where(outbox.c.id == message.id).values(destination=destination)
            )

    op.drop_column("outbox", "destination_key")
    op.drop_column("outbox", "destination_masked")
    op.drop_column("verifications", "destination_key")
    op.drop_column("verifications", "destination_lookup")
    op.create_index(
        "ux_verifications_pending_api",
        "verifications",
        ["api_key_id", "channel", "destination"],
        unique=True,
        sqlite_where=PENDING_API,
        postgresql_where=PENDING_API,
    )
    op.create_index(
        "ix_verifications_lookup", "verifications", ["api_key_id", "destination", "status"]
    )
    op.create_index(
        "uq_security_info_sign_in_name",
        "security_info",
        ["value"],
        unique=True,
        sqlite_where=SIGN_IN_SQLITE,
        postgresql_where=SIGN_IN_POSTGRESQL,
    )
    _widen(bind, sa.String(320))
