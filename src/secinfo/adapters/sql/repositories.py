"""Repositories over one open connection (the unit of work's transaction)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.contacts_at_rest import (
    duplicate_index,
    key_index,
    seal,
    spelling_index,
    unseal,
)
from secinfo.adapters.sql.direct import Direct
from secinfo.adapters.sql.tables import (
    accounts,
    activity_events,
    api_keys,
    outbox,
    security_info,
    sessions,
    verifications,
)
from secinfo.domain.contacts import Channel, masked_destination
from secinfo.domain.errors import Conflict
from secinfo.domain.model import (
    Account,
    AccountStatus,
    ActivityEvent,
    ApiKey,
    ApiKeyScope,
    InfoKind,
    InfoState,
    MessageStatus,
    OutgoingMessage,
    SecurityInfo,
    Session,
)
from secinfo.domain.verification import Purpose, SentCode, Status, Verification


class ConcurrentUpdate(Conflict):
    code = "concurrent_update"
    default_message = "Someone else changed this at the same moment; try again."


def _fields(row: sa.Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


class SqlAccounts:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    @staticmethod
    def _values(account: Account) -> dict[str, Any]:
        return {
            "id": account.id,
            "password_hash": account.password_hash,
            "status": account.status.value,
            "locale": account.locale,
            "created_at": account.created_at,
            "last_sign_in_at": account.last_sign_in_at,
            "password_changed_at": account.password_changed_at,
            "two_step_enabled": account.two_step_enabled,
            "password_reset_required": account.password_reset_required,
            "reconfirm_prompted_at": account.reconfirm_prompted_at,
            "reconfirm_skipped_until": account.reconfirm_skipped_until,
            "passkey_user_handle": account.passkey_user_handle,
            "closed_at": account.closed_at,
            "erase_at": account.erase_at,
            "erased_at": account.erased_at,
        }

    async def add(self, account: Account) -> None:
        await self.connection.execute(
            accounts.insert().values(
                **self._values(account),
                locked_at=account.locked_at,
                locked_reason=account.locked_reason,
                locked_by=account.locked_by,
            )
        )

    async def get(self, account_id: str) -> Account | None:
        row = (
            await self.connection.execute(accounts.select().where(accounts.c.id == account_id))
        ).first()
        if row is None:
            return None
        values = _fields(row)
        values["status"] = AccountStatus(values["status"])
        return Account(**values)

    async def update(self, account: Account) -> None:
        await self.connection.execute(
            accounts.update().where(accounts.c.id == account.id).values(self._values(account))
        )

    async def delete(self, account_id: str) -> None:
        await self.connection.execute(accounts.delete().where(accounts.c.id == account_id))

    async def replace_password_hash(self, account_id: str, expected: str, new: str) -> bool:
        result = await self.connection.execute(
            accounts.update()
            .where(accounts.c.id == account_id, accounts.c.password_hash == expected)
            .values(password_hash=new)
        )
        return bool(result.rowcount)

    async def lock(self, account_id: str, now: datetime, reason: str | None, by: str) -> bool:
        result = await self.connection.execute(
            accounts.update()
            .where(accounts.c.id == account_id, accounts.c.locked_at.is_(None))
            .values(locked_at=now, locked_reason=reason, locked_by=by)
        )
        return bool(result.rowcount)

    async def unlock(self, account_id: str) -> bool:
        result = await self.connection.execute(
            accounts.update()
            .where(accounts.c.id == account_id, accounts.c.locked_at.is_not(None))
            .values(locked_at=None, locked_reason=None, locked_by=None)
        )
        return bool(result.rowcount)

    async def record_sign_in(self, account_id: str, at: datetime) -> None:
        await self.connection.execute(
            accounts.update().where(accounts.c.id == account_id).values(last_sign_in_at=at)
        )

    async def set_reconfirm(
        self, account_id: str, prompted_at: datetime | None, skipped_until: datetime | None
    ) -> None:
        await self.connection.execute(
            accounts.update()
            .where(accounts.c.id == account_id)
            .values(reconfirm_prompted_at=prompted_at, reconfirm_skipped_until=skipped_until)
        )


VALUE = "security_info.value"


def _security_info(row: sa.Row[Any], box: SecretBox) -> SecurityInfo:
    values = _fields(row)
    values.pop("value_key", None)  # derived from the value; kept for lookups only
    values["value"] = unseal(box, VALUE, values["id"], values["value"])
    values["kind"] = InfoKind(values["kind"])
    values["state"] = InfoState(values["state"])
    if values.get("secret") and SecretBox.is_sealed(values["secret"]):
        values["secret"] = box.open(values["secret"], values["id"])
    return SecurityInfo(**values)


class SqlSecurityInfo:
    """Security info rows. The value is sealed (contacts_at_rest) and looked up by the
    blind index of its key. An authenticator's secret is sealed with the encryption keys
    (bound to its row id); a recovery code's keyed hash is stored as it is. Neither it nor
    the last accepted time step is written by ``update``: only ``add`` and the
    conditional ``claim_step`` and ``replace_secret``, so a stale copy can never bring
    back a used step or code."""

    def __init__(self, connection: AsyncConnection, box: SecretBox) -> None:
        self.connection = connection
        self.box = box

    def _load(self, row: sa.Row[Any]) -> SecurityInfo:
        return _security_info(row, self.box)

    def _stored_secret(self, item: SecurityInfo, secret: str | None) -> str | None:
        if secret is None or item.kind is not InfoKind.AUTHENTICATOR:
            return secret
        return self.box.seal(secret, item.id)

    def _values(self, item: SecurityInfo) -> dict[str, Any]:
        return {
            "id": item.id,
            "account_id": item.account_id,
            "kind": item.kind.value,
            "value": seal(self.box, VALUE, item.id, item.value),
            "label": item.label,
            "state": item.state.value,
            "sign_in": item.sign_in,
            "added_at": item.added_at,
            "verified_at": item.verified_at,
            "last_used_at": item.last_used_at,
            "removed_at": item.removed_at,
        }

    async def add(self, item: SecurityInfo) -> None:
        # The key is written once: an update never rewrites it (a row marked as an old
        # case-duplicate keeps its mark).
        values = self._values(item) | {
            "value_key": key_index(self.box, item.value),
            "secret": self._stored_secret(item, item.secret),
            "last_step": item.last_step,
            "credential_id": item.credential_id,
            "public_key": item.public_key,
            "aaguid": item.aaguid,
        }
        await self.connection.execute(security_info.insert().values(values))

    async def claim_step(self, item: SecurityInfo, step: int) -> bool:
        """Record ``step`` as the last accepted one if it is later than the stored one;
        False when another check got there first (the code was already used)."""
        column = security_info.c.last_step
        result = await self.connection.execute(
            security_info.update()
            .where(
                security_info.c.id == item.id,
                sa.or_(column.is_(None), column < step),
            )
            .values(last_step=step)
        )
        if result.rowcount != 1:
            return False
        item.last_step = step
        return True

    async def replace_secret(self, item: SecurityInfo, expected: str | None, new: str) -> bool:
        """Swap a recovery code's hash (or set a new secret) only if the stored one is
        still ``expected``: a code is consumed once."""
        column = security_info.c.secret
        condition = column.is_(None) if expected is None else column == expected
        result = await self.connection.execute(
            security_info.update()
            .where(security_info.c.id == item.id, condition)
            .values(secret=self._stored_secret(item, new))
        )
        if result.rowcount != 1:
            return False
        item.secret = new
        return True

    async def get(self, item_id: str) -> SecurityInfo | None:
        row = (
            await self.connection.execute(
                security_info.select().where(security_info.c.id == item_id)
            )
        ).first()
        return self._load(row) if row else None

    async def update(self, item: SecurityInfo) -> None:
        await self.connection.execute(
            security_info.update().where(security_info.c.id == item.id).values(self._values(item))
        )

    async def list_for_account(self, account_id: str) -> list[SecurityInfo]:
        rows = await self.connection.execute(
            security_info.select()
            .where(
                security_info.c.account_id == account_id,
                security_info.c.state != InfoState.REMOVED.value,
            )
            .order_by(security_info.c.added_at, security_info.c.id)
        )
        return [self._load(row) for row in rows]

    def _sign_in_name(self, value: str, *columns: Any) -> sa.Select[Any]:
        """The name whose key is ``value``'s, by blind index; the exact spelling first (an
        account that was a case-duplicate before keys existed keeps signing in with its
        own spelling). Two index values are computed for every name, known or not."""
        spelling = duplicate_index(self.box, value)
        return (
            sa.select(*columns)
            .where(
                security_info.c.value_key.in_([key_index(self.box, value), spelling]),
                security_info.c.sign_in.is_(True),
                security_info.c.state != InfoState.PENDING.value,
            )
            .order_by(sa.case((security_info.c.value_key == spelling, 0), else_=1))
            .limit(1)
        )

    async def find_sign_in_name(self, value: str) -> SecurityInfo | None:
        row = (await self.connection.execute(self._sign_in_name(value, security_info))).first()
        return self._load(row) if row else None

    async def find_sign_in_account(self, value: str) -> str | None:
        """The account of ``find_sign_in_name``, without reading the item: a known and an
        unknown name cost the same to look up."""
        found = await self.connection.scalar(self._sign_in_name(value, security_info.c.account_id))
        return str(found) if found is not None else None

    async def find_passkey(self, credential_id: str) -> SecurityInfo | None:
        """The passkey with this credential id (base64url), whatever its state."""
        row = (
            await self.connection.execute(
                security_info.select().where(security_info.c.credential_id == credential_id)
            )
        ).first()
        return self._load(row) if row else None

    async def list_sign_in_names(self, account_id: str) -> list[SecurityInfo]:
        rows = await self.connection.execute(
            security_info.select()
            .where(
                security_info.c.account_id == account_id,
                security_info.c.sign_in.is_(True),
                security_info.c.state != InfoState.PENDING.value,
            )
            .order_by(security_info.c.added_at, security_info.c.id)
        )
        return [self._load(row) for row in rows]

    async def sample_accounts(self, limit: int) -> list[list[SecurityInfo]]:
        picked = (
            sa.select(accounts.c.id)
            .where(accounts.c.status == AccountStatus.ACTIVE.value)
            .order_by(sa.func.random())
            .limit(limit)
            .scalar_subquery()
        )
        rows = await self.connection.execute(
            security_info.select()
            .where(
                security_info.c.account_id.in_(picked),
                security_info.c.state != InfoState.REMOVED.value,
            )
            .order_by(security_info.c.account_id, security_info.c.added_at, security_info.c.id)
        )
        grouped: dict[str, list[SecurityInfo]] = {}
        for row in rows:
            item = self._load(row)
            grouped.setdefault(item.account_id, []).append(item)
        return list(grouped.values())


DESTINATION = "verifications.destination"


# The Verify API's statements, built once: SQLAlchemy's compiled cache then finds them
# without building and hashing a new statement per call (a py-spy profile of verify
# showed statement construction and cache keys at ~15 % of the server's CPU). The values
# are bound per execution; the SQL sent is the same as a statement built per call.
_verification_pending = sa.and_(
    verifications.c.api_key_id == sa.bindparam("p_api_key_id"),
    verifications.c.destination_lookup == sa.bindparam("p_lookup"),
    verifications.c.channel == sa.bindparam("p_channel"),
    verifications.c.status == Status.PENDING.value,
)
_VERIFICATION_INSERT = verifications.insert()
_VERIFICATION_BY_ID = verifications.select().where(verifications.c.id == sa.bindparam("p_id"))
_VERIFICATION_BY_ID_FOR_UPDATE = _VERIFICATION_BY_ID.with_for_update()
_VERIFICATION_UPDATE = verifications.update().where(
    verifications.c.id == sa.bindparam("p_id"),
    verifications.c.version == sa.bindparam("p_version"),
)
# ux_verifications_pending_api allows one pending row per (API key, channel, destination).
_VERIFICATION_PENDING = verifications.select().where(_verification_pending)
_VERIFICATION_PENDING_FOR_UPDATE = _VERIFICATION_PENDING.with_for_update()
_OUTBOX_INSERT = outbox.insert()


class SqlVerifications:
    """Verifications. The destination is sealed; the Verify API finds a pending one by
    the blind index of the destination's spelling, the person's data by its key's."""

    def __init__(self, connection: AsyncConnection, box: SecretBox, *, row_locks: bool) -> None:
        self.connection = connection
        self.direct = Direct(connection)
        self.box = box
        self.row_locks = row_locks
        self._versions: dict[str, int] = {}

    def _values(self, verification: Verification) -> dict[str, Any]:
        destination = verification.destination
        return {
            "id": verification.id,
            "purpose": verification.purpose.value,
            "channel": verification.channel.value,
            "destination": seal(self.box, DESTINATION, verification.id, destination),
            "destination_lookup": spelling_index(self.box, destination),
            "destination_key": key_index(self.box, destination),
            "status": verification.status.value,
            "account_id": verification.account_id,
            "api_key_id": verification.api_key_id,
            "subject_id": verification.subject_id,
            "session_id": verification.session_id,
            "locale": verification.locale,
            "check_attempts": verification.check_attempts,
            "send_attempts": verification.send_attempts,
            "codes": json.dumps(
                [[code.code_hash, code.sent_at.isoformat()] for code in verification.codes]
            ),
            "created_at": verification.created_at,
            "expires_at": verification.expires_at,
            "last_sent_at": verification.last_sent_at,
            "approved_at": verification.approved_at,
        }

    def _load(self, row: sa.Row[Any] | dict[str, Any]) -> Verification:
        values = dict(row) if isinstance(row, dict) else _fields(row)
        self._versions[values["id"]] = values.pop("version")
        for column in ("destination_lookup", "destination_key"):
            values.pop(column, None)
        values["destination"] = unseal(self.box, DESTINATION, values["id"], values["destination"])
        values["purpose"] = Purpose(values["purpose"])
        values["channel"] = Channel(values["channel"])
        values["status"] = Status(values["status"])
        values["codes"] = [
            SentCode(code_hash, datetime.fromisoformat(sent_at))
            for code_hash, sent_at in json.loads(values["codes"])
        ]
        return Verification(**values)

    def _pending(self, api_key_id: str, channel: Channel, destination: str) -> dict[str, Any]:
        return {
            "p_api_key_id": api_key_id,
            "p_lookup": spelling_index(self.box, destination),
            "p_channel": channel.value,
        }

    async def add(self, verification: Verification) -> None:
        try:
            await self.direct.execute(
                _VERIFICATION_INSERT, {**self._values(verification), "version": 1}
            )
        except sa.exc.IntegrityError as error:
            # Another start for the same (API key, channel, destination) committed first
            # (ux_verifications_pending_api): the caller starts over and resends on it.
            raise ConcurrentUpdate() from error
        self._versions[verification.id] = 1

    async def get(self, verification_id: str) -> Verification | None:
        row = (
            await self.direct.execute(_VERIFICATION_BY_ID, {"p_id": verification_id}, rows=True)
        ).first()
        return self._load(row) if row else None

    async def get_for_update(self, verification_id: str) -> Verification | None:
        query = _VERIFICATION_BY_ID_FOR_UPDATE if self.row_locks else _VERIFICATION_BY_ID
        row = (await self.direct.execute(query, {"p_id": verification_id}, rows=True)).first()
        return self._load(row) if row else None

    async def update(self, verification: Verification) -> None:
        """Write back, refusing if another transaction changed the row since it was read."""
        version = self._versions[verification.id]
        result = await self.direct.execute(
            _VERIFICATION_UPDATE,
            {
                **self._values(verification),
                "version": version + 1,
                "p_id": verification.id,
                "p_version": version,
            },
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate()
        self._versions[verification.id] = version + 1

    async def pending_for_api_key(
        self, api_key_id: str, channel: Channel, destination: str
    ) -> Verification | None:
        query = _VERIFICATION_PENDING_FOR_UPDATE if self.row_locks else _VERIFICATION_PENDING
        params = self._pending(api_key_id, channel, destination)
        row = (await self.direct.execute(query, params, rows=True)).first()
        return self._load(row) if row else None


def _session(row: sa.Row[Any]) -> Session:
    return Session(**_fields(row))


class SqlSessions:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, session: Session) -> None:
        await self.connection.execute(sessions.insert().values(vars(session)))

    async def get(self, session_id: str) -> Session | None:
        row = (
            await self.connection.execute(sessions.select().where(sessions.c.id == session_id))
        ).first()
        return _session(row) if row else None

    async def get_by_token_hash(self, token_hash: str) -> Session | None:
        row = (
            await self.connection.execute(
                sessions.select().where(sessions.c.token_hash == token_hash)
            )
        ).first()
        return _session(row) if row else None

    async def update(self, session: Session) -> None:
        await self.connection.execute(
            sessions.update().where(sessions.c.id == session.id).values(vars(session))
        )

    async def revoke_all(
        self, account_id: str, now: datetime, keep_session_id: str | None = None
    ) -> int:
        query = sessions.update().where(
            sessions.c.account_id == account_id, sessions.c.revoked_at.is_(None)
        )
        if keep_session_id is not None:
            query = query.where(sessions.c.id != keep_session_id)
        result = await self.connection.execute(query.values(revoked_at=now))
        return int(result.rowcount)

    async def count_live(self, account_id: str, now: datetime) -> int:
        found = await self.connection.scalar(
            sa.select(sa.func.count())
            .select_from(sessions)
            .where(
                sessions.c.account_id == account_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
        )
        return int(found or 0)


def _api_key(row: sa.Row[Any]) -> ApiKey:
    values = _fields(row)
    values["scope"] = ApiKeyScope(values["scope"])
    return ApiKey(**values)


class SqlApiKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, api_key: ApiKey) -> None:
        await self.connection.execute(api_keys.insert().values(vars(api_key)))

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        row = (
            await self.connection.execute(api_keys.select().where(api_keys.c.key_hash == key_hash))
        ).first()
        return _api_key(row) if row else None

    async def get(self, api_key_id: str) -> ApiKey | None:
        row = (
            await self.connection.execute(api_keys.select().where(api_keys.c.id == api_key_id))
        ).first()
        return _api_key(row) if row else None

    async def list(self) -> list[ApiKey]:
        rows = await self.connection.execute(api_keys.select().order_by(api_keys.c.created_at))
        return [_api_key(row) for row in rows]

    async def update(self, api_key: ApiKey) -> None:
        await self.connection.execute(
            api_keys.update().where(api_keys.c.id == api_key.id).values(vars(api_key))
        )


OUTBOX_DESTINATION = "outbox.destination"


def message_from_row(row: sa.Row[Any] | dict[str, Any], box: SecretBox) -> OutgoingMessage:
    values = dict(row) if isinstance(row, dict) else _fields(row)
    for column in ("lease_until", "worker_id", "destination_masked", "destination_key"):
        values.pop(column, None)
    values["destination"] = unseal(box, OUTBOX_DESTINATION, values["id"], values["destination"])
    values["channel"] = Channel(values["channel"])
    values["status"] = MessageStatus(values["status"])
    if values["body"]:
        values["body"] = box.open(values["body"], associated=values["id"])
    return OutgoingMessage(**values)


class SqlOutbox:
    def __init__(self, connection: AsyncConnection, box: SecretBox) -> None:
        self.connection = connection
        self.direct = Direct(connection)
        self.box = box

    async def add(self, message: OutgoingMessage) -> None:
        values = vars(message).copy()
        values["channel"] = message.channel.value
        values["status"] = message.status.value
        if message.carries_secret:
            values["body"] = self.box.seal(message.body, associated=message.id)
        if message.channel is not Channel.WEBHOOK:
            values["destination"] = seal(
                self.box, OUTBOX_DESTINATION, message.id, message.destination
            )
            values["destination_masked"] = masked_destination(
                message.channel.value, message.destination
            )
            values["destination_key"] = key_index(self.box, message.destination)
        await self.direct.execute(_OUTBOX_INSERT, values)

    async def latest_status_for_verification(self, verification_id: str) -> MessageStatus | None:
        status = await self.connection.scalar(
            sa.select(outbox.c.status)
            .where(outbox.c.verification_id == verification_id)
            .order_by(outbox.c.created_at.desc())
            .limit(1)
        )
        return MessageStatus(status) if status else None


class SqlActivity:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, event: ActivityEvent) -> None:
        values = vars(event).copy()
        values["details"] = json.dumps(event.details)
        await self.connection.execute(activity_events.insert().values(values))

    async def list_for_account(
        self, account_id: str, limit: int, before: str | None = None
    ) -> list[ActivityEvent]:
        """Newest first; ``before`` is the id of the last event of the previous page."""
        query = activity_events.select().where(activity_events.c.account_id == account_id)
        if before is not None:
            cursor = (
                sa.select(activity_events.c.seq)
                .where(activity_events.c.id == before)
                .scalar_subquery()
            )
            query = query.where(activity_events.c.seq < cursor)
        rows = await self.connection.execute(
            query.order_by(activity_events.c.seq.desc()).limit(limit)
        )
        events = []
        for row in rows:
            events.append(_event(row))
        return events

    async def get(self, event_id: str) -> ActivityEvent | None:
        row = (
            await self.connection.execute(
                activity_events.select().where(activity_events.c.id == event_id)
            )
        ).first()
        return _event(row) if row else None

    async def count_since(self, account_id: str, type: str, since: datetime) -> int:
        count = await self.connection.scalar(
            sa.select(sa.func.count())
            .select_from(activity_events)
            .where(
                activity_events.c.account_id == account_id,
                activity_events.c.type == type,
                activity_events.c.created_at >= since,
            )
        )
        return int(count or 0)

    async def purge_before(self, cutoff: datetime) -> int:
        result = await self.connection.execute(
            activity_events.delete().where(activity_events.c.created_at < cutoff)
        )
        return int(result.rowcount)


def _event(row: sa.Row[Any]) -> ActivityEvent:
    values = _fields(row)
    values.pop("seq")
    values["details"] = json.loads(values["details"])
    return ActivityEvent(**values)
