"""Everything held about one account, and its erasure, in the unit of work's transaction.

Rows are the account's by ``account_id``; messages and verifications that carry no
account (a Verify-API code, a "someone tried to sign up with your address" notice) are
the person's by their destination, found by the blind index of the contact's key (every
spelling of one mailbox has one; contacts are sealed at rest, see contacts_at_rest).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.contacts_at_rest import key_index, seal, unseal
from secinfo.adapters.sql.flow_repositories import SqlChallenges, SqlRecoveries, _change
from secinfo.adapters.sql.repositories import (
    DESTINATION,
    OUTBOX_DESTINATION,
    VALUE,
    SqlVerifications,
    _event,
    _session,
)
from secinfo.adapters.sql.tables import (
    accounts,
    activity_events,
    billing_profiles,
    delivery_attempts,
    dev_mailbox,
    devices,
    known_networks,
    operators,
    outbox,
    passkey_challenges,
    pending_changes,
    recoveries,
    security_info,
    sessions,
    sign_in_challenges,
    verifications,
)
from secinfo.domain.contacts import Channel, contact_key
from secinfo.domain.data_rights import anonymised_details, anonymised_webhook_body
from secinfo.domain.model import (
    Account,
    AccountStatus,
    ChangeStatus,
    Device,
    InfoKind,
    InfoState,
    MessageStatus,
    SecurityInfo,
)
from secinfo.domain.verification import Status, Verification
from secinfo.ports import ErasurePlan, HeldData, MessageRecord, NetworkRecord

# Messages that would still be delivered: once their destination is erased they never are.
_UNDELIVERED = (MessageStatus.QUEUED.value, MessageStatus.FAILED.value)


def _fields(row: sa.Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


def _keys(values: Iterable[str]) -> set[str]:
    return {contact_key(value) for value in values}


class SqlPersonalData:
    def __init__(self, connection: AsyncConnection, box: SecretBox) -> None:
        self.connection = connection
        self.box = box

    def _indexes(self, values: Iterable[str]) -> list[str]:
        """The blind indexes of the contacts' keys."""
        return sorted({key_index(self.box, value) for value in values})

    # -- reading ---------------------------------------------------------------------------
    async def _account(self, account_id: str) -> Account | None:
        row = (
            await self.connection.execute(accounts.select().where(accounts.c.id == account_id))
        ).first()
        if row is None:
            return None
        values = _fields(row)
        values["status"] = AccountStatus(values["status"])
        values["password_hash"] = ""  # never leaves the store through here
        return Account(**values)

    async def _of_account(
        self, table: sa.Table, account_id: str, order: sa.ColumnElement[Any]
    ) -> sa.CursorResult[Any]:
        """The rows of ``table`` that belong to the account, in ``order``."""
        return await self.connection.execute(
            table.select().where(table.c.account_id == account_id).order_by(order)
        )

    async def _items(self, account_id: str) -> list[SecurityInfo]:
        rows = await self.connection.execute(
            security_info.select()
            .where(security_info.c.account_id == account_id)
            .order_by(security_info.c.added_at, security_info.c.id)
        )
        items = []
        for row in rows:
            values = _fields(row)
            for column in ("value_key", "secret", "last_step"):
                values.pop(column, None)
            values["value"] = unseal(self.box, VALUE, values["id"], values["value"])
            values["kind"] = InfoKind(values["kind"])
            values["state"] = InfoState(values["state"])
            items.append(SecurityInfo(**values))
        return items

    async def _verifications(self, account_id: str, values: set[str]) -> list[Verification]:
        """The account's verifications, and those to its contacts that carry no account."""
        keys = _keys(values)
        condition = verifications.c.account_id == account_id
        if values:
            condition = sa.or_(
                condition,
                sa.and_(
                    verifications.c.account_id.is_(None),
                    verifications.c.destination_key.in_(self._indexes(values)),
                ),
            )
        loader = SqlVerifications(self.connection, self.box, row_locks=False)
        rows = await self.connection.execute(
            verifications.select().where(condition).order_by(verifications.c.created_at)
        )
        found = []
        for row in rows:
            verification = loader._load(row)
            if (
                verification.account_id == account_id
                or contact_key(verification.destination) in keys
            ):
                verification.codes = []  # hashes of codes are never exported
                found.append(verification)
        return found

    async def _messages(
        self, verification_ids: set[str], values: set[str]
    ) -> list[tuple[MessageRecord, str | None]]:
        # A delivered message's destination is wiped: the contact it went to is the one
        # of ``values`` with its key's index.
        known = {key_index(self.box, value): value for value in sorted(values)}
        indexes = sorted(known)
        conditions = []
        if verification_ids:
            conditions.append(outbox.c.verification_id.in_(sorted(verification_ids)))
        if values:
            conditions.append(outbox.c.destination_key.in_(indexes))
        if not conditions:
            return []
        rows = await self.connection.execute(
            sa.select(
                outbox.c.id,
                outbox.c.channel,
                outbox.c.template,
                outbox.c.status,
                outbox.c.destination,
                outbox.c.destination_masked,
                outbox.c.destination_key,
                outbox.c.created_at,
                outbox.c.sent_at,
                outbox.c.attempts,
                outbox.c.verification_id,
            )
            .where(sa.or_(*conditions))
            .order_by(outbox.c.created_at, outbox.c.id)
        )
        found = []
        for row in rows:
            ours = row.verification_id in verification_ids
            if not ours and not (row.verification_id is None and row.destination_key in indexes):
                continue  # another account's code to a shared address
            # Wiped after delivery: the masked form is all that is left of it.
            destination = unseal(self.box, OUTBOX_DESTINATION, row.id, row.destination)
            found.append(
                (
                    MessageRecord(
                        id=row.id,
                        channel=row.channel,
                        template=row.template,
                        status=row.status,
                        destination=destination
                        or known.get(row.destination_key or "")
                        or row.destination_masked
                        or "",
                        created_at=row.created_at,
                        sent_at=row.sent_at,
                        attempts=row.attempts,
                    ),
                    row.verification_id,
                )
            )
        return found

    async def _ids(self, table: sa.Table, account_id: str) -> list[str]:
        rows = await self.connection.execute(
            sa.select(table.c.id).where(table.c.account_id == account_id).order_by(table.c.id)
        )
        return [row.id for row in rows]

    async def held(self, account_id: str) -> HeldData | None:
        account = await self._account(account_id)
        if account is None:
            return None
        connection = self.connection
        items = await self._items(account_id)
        values = {item.value for item in items if item.channel is not None}
        found_verifications = await self._verifications(account_id, values)
        values |= {verification.destination for verification in found_verifications}
        messages = await self._messages({v.id for v in found_verifications}, values)
        session_rows = await self._of_account(sessions, account_id, sessions.c.created_at)
        device_rows = await self._of_account(devices, account_id, devices.c.created_at)
        network_rows = await self._of_account(
            known_networks, account_id, known_networks.c.first_seen_at
        )
        change_rows = await self._of_account(
            pending_changes, account_id, pending_changes.c.created_at
        )
        event_rows = await self._of_account(activity_events, account_id, activity_events.c.seq)
        challenges_repo = SqlChallenges(connection)
        recoveries_repo = SqlRecoveries(connection)
        challenges = [
            challenge
            for challenge_id in await self._ids(sign_in_challenges, account_id)
            if (challenge := await challenges_repo.get(challenge_id)) is not None
        ]
        found_recoveries = [
            recovery
            for recovery_id in await self._ids(recoveries, account_id)
            if (recovery := await recoveries_repo.get(recovery_id)) is not None
        ]
        billing_row = (
            await connection.execute(
                billing_profiles.select().where(billing_profiles.c.account_id == account_id)
            )
        ).first()
        found_sessions = []
        for row in session_rows:
            session = _session(row)
            session.token_hash = ""
            found_sessions.append(session)
        return HeldData(
            account=account,
            items=items,
            sessions=found_sessions,
            devices=[Device(**(_fields(row) | {"token_hash": ""})) for row in device_rows],
            networks=[
                NetworkRecord(row.network, row.country, row.first_seen_at, row.last_seen_at)
                for row in network_rows
            ],
            challenges=challenges,
            verifications=found_verifications,
            pending_changes=[_change(row) for row in change_rows],
            activity=[_event(row) for row in event_rows],
            messages=[message for message, _ in messages],
            billing=json.loads(billing_row.profile) if billing_row else None,
            recoveries=found_recoveries,
            operator_since=await connection.scalar(
                sa.select(operators.c.created_at).where(operators.c.account_id == account_id)
            ),
        )

    async def held_by_others(self, account_id: str, values: set[str]) -> set[str]:
        if not values:
            return set()
        wanted = {key_index(self.box, value): value for value in values}
        rows = await self.connection.execute(
            sa.select(security_info.c.value_key)
            .join(accounts, accounts.c.id == security_info.c.account_id)
            .where(
                security_info.c.account_id != account_id,
                accounts.c.status != AccountStatus.ERASED.value,
                sa.or_(
                    # An old case-duplicate's index starts with its key's (contacts_at_rest).
                    *(security_info.c.value_key.startswith(index) for index in sorted(wanted))
                ),
            )
        )
        others = {str(row.value_key)[:64] for row in rows}
        return {value for index, value in wanted.items() if index in others}

    async def closed_due(self, now: datetime, limit: int) -> list[str]:
        rows = await self.connection.execute(
            sa.select(accounts.c.id)
            .where(accounts.c.status == AccountStatus.CLOSED.value, accounts.c.erase_at <= now)
            .order_by(accounts.c.erase_at)
            .limit(limit)
        )
        return [row.id for row in rows]

    # -- erasing ---------------------------------------------------------------------------
    async def _anonymise_webhooks(self, account_id: str) -> int:
        """Webhook payloads about the account (delivered or still to go) lose their
        labels and masked values; the integrator still learns what happened."""
        rows = await self.connection.execute(
            sa.select(outbox.c.id, outbox.c.body).where(
                outbox.c.channel == Channel.WEBHOOK.value,
                outbox.c.body.contains(f'"account_id":"{account_id}"', autoescape=True),
            )
        )
        found = list(rows)
        for row in found:
            await self.connection.execute(
                outbox.update()
                .where(outbox.c.id == row.id)
                .values(body=anonymised_webhook_body(row.body), last_error=None)
            )
        return len(found)

    async def claim_erasure(self, account_id: str, now: datetime, *, due_only: bool) -> bool:
        condition = (
            sa.and_(accounts.c.status == AccountStatus.CLOSED.value, accounts.c.erase_at <= now)
            if due_only
            else accounts.c.status != AccountStatus.ERASED.value
        )
        result = await self.connection.execute(
            accounts.update()
            .where(accounts.c.id == account_id, condition)
            .values(status=AccountStatus.ERASED.value, erased_at=now, erase_at=None)
        )
        return bool(result.rowcount)

    async def reopen(self, account_id: str) -> bool:
        result = await self.connection.execute(
            accounts.update()
            .where(accounts.c.id == account_id, accounts.c.status == AccountStatus.CLOSED.value)
            .values(status=AccountStatus.ACTIVE.value, closed_at=None, erase_at=None)
        )
        return bool(result.rowcount)

    async def erase(self, plan: ErasurePlan) -> dict[str, int]:
        connection = self.connection
        account_id, now = plan.account_id, plan.now
        replacements = {contact_key(value): erased for value, erased in plan.replacements.items()}
        unshared_keys = _keys(plan.unshared)
        counts: dict[str, int] = {}

        rows = await connection.execute(
            sa.select(security_info.c.id, security_info.c.value, security_info.c.removed_at).where(
                security_info.c.account_id == account_id
            )
        )
        for row in list(rows):
            value = unseal(self.box, VALUE, row.id, row.value)
            erased = replacements.get(contact_key(value), value)
            await connection.execute(
                security_info.update()
                .where(security_info.c.id == row.id)
                .values(
                    value=seal(self.box, VALUE, row.id, erased),
                    value_key=key_index(self.box, erased),
                    label=None,
                    secret=None,
                    last_step=None,
                    credential_id=None,
                    public_key=None,
                    aaguid=None,
                    sign_in=False,
                    state=InfoState.REMOVED.value,
                    removed_at=row.removed_at or now,
                )
            )
        counts["security_info"] = len(replacements)

        # Verifications: the account's, and the ones to an address only it held.
        rows = await connection.execute(
            sa.select(
                verifications.c.id, verifications.c.destination, verifications.c.account_id
            ).where(
                sa.or_(
                    verifications.c.account_id == account_id,
                    sa.and_(
                        verifications.c.account_id.is_(None),
                        verifications.c.destination_key.in_(self._indexes(plan.unshared)),
                    ),
                )
            )
        )
        verification_ids = []
        for row in list(rows):
            destination = unseal(self.box, DESTINATION, row.id, row.destination)
            key = contact_key(destination)
            if row.account_id != account_id and key not in unshared_keys:
                continue
            verification_ids.append(row.id)
            erased = replacements.get(key, destination)
            await connection.execute(
                verifications.update()
                .where(verifications.c.id == row.id)
                .values(
                    destination=seal(self.box, DESTINATION, row.id, erased),
                    destination_lookup=self.box.blind_index(erased),
                    destination_key=key_index(self.box, erased),
                    codes="[]",
                    status=sa.case(
                        (verifications.c.status == Status.PENDING.value, Status.CANCELED.value),
                        else_=verifications.c.status,
                    ),
                    version=verifications.c.version + 1,
                )
            )
        counts["verifications"] = len(verification_ids)

        # Messages: bodies and destinations go; what was sent when stays for operations.
        # An email's or SMS's destination is sealed, or wiped after delivery: its key's
        # index says whose it was.
        unshared_indexes = self._indexes(plan.unshared)
        erased_by_index = {
            key_index(self.box, value): erased for value, erased in plan.replacements.items()
        }
        conditions = [outbox.c.destination_key.in_(unshared_indexes)]
        if verification_ids:
            conditions.append(outbox.c.verification_id.in_(verification_ids))
        rows = await connection.execute(
            sa.select(outbox.c.id, outbox.c.destination_key, outbox.c.verification_id).where(
                sa.or_(*conditions)
            )
        )
        message_ids = []
        for row in list(rows):
            if row.verification_id not in verification_ids and not (
                row.verification_id is None and row.destination_key in unshared_indexes
            ):
                continue
            message_ids.append(row.id)
            erased = erased_by_index.get(row.destination_key, "")
            await connection.execute(
                outbox.update()
                .where(outbox.c.id == row.id)
                .values(
                    destination="",
                    destination_masked=erased,
                    destination_key=key_index(self.box, erased) if erased else None,
                    subject="",
                    body="",
                    last_error=None,
                    status=sa.case(
                        (outbox.c.status.in_(_UNDELIVERED), MessageStatus.EXPIRED.value),
                        else_=outbox.c.status,
                    ),
                )
            )
        counts["outbox"] = len(message_ids)
        if message_ids:
            await connection.execute(
                delivery_attempts.update()
                .where(delivery_attempts.c.message_id.in_(message_ids))
                .values(error=None)
            )
        # Development only, and not sealed: compared on the spellings as before.
        lowered = sorted({value.lower() for value in plan.unshared} | unshared_keys)
        mailbox_condition: sa.ColumnElement[bool] = sa.func.lower(dev_mailbox.c.destination).in_(
            lowered
        )
        if message_ids:
            mailbox_condition = sa.or_(mailbox_condition, dev_mailbox.c.message_id.in_(message_ids))
        counts["dev_mailbox"] = (
            await connection.execute(dev_mailbox.delete().where(mailbox_condition))
        ).rowcount

        counts["webhooks"] = await self._anonymise_webhooks(account_id)

        for table in (
            sessions,
            devices,
            known_networks,
            sign_in_challenges,
            recoveries,
            billing_profiles,
            passkey_challenges,
            operators,  # an erased account is nobody's: it operates nothing
        ):
            result = await connection.execute(
                table.delete().where(table.c.account_id == account_id)
            )
            counts[table.name] = int(result.rowcount)

        rows = await connection.execute(
            sa.select(activity_events.c.seq, activity_events.c.details).where(
                activity_events.c.account_id == account_id
            )
        )
        events = list(rows)
        for row in events:
            await connection.execute(
                activity_events.update()
                .where(activity_events.c.seq == row.seq)
                .values(
                    ip=None,
                    user_agent=None,
                    details=json.dumps(anonymised_details(json.loads(row.details))),
                )
            )
        counts["activity_events"] = len(events)

        counts["pending_changes"] = (
            await connection.execute(
                pending_changes.update()
                .where(
                    pending_changes.c.account_id == account_id,
                    pending_changes.c.status == ChangeStatus.PENDING.value,
                )
                .values(status=ChangeStatus.CANCELED.value, canceled_at=now)
            )
        ).rowcount
        await connection.execute(
            accounts.update()
            .where(accounts.c.id == account_id)
            .values(
                password_hash="",
                passkey_user_handle=None,
                two_step_enabled=False,
                password_reset_required=False,
                locked_reason=None,  # an operator's note about the person
            )
        )
        return counts
