"""Repositories for waiting periods, devices, networks, sign-in challenges, recovery, billing."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from secinfo.adapters.sql.tables import (
    billing_profiles,
    blocked_prefixes,
    devices,
    known_networks,
    passkey_challenges,
    pending_changes,
    recoveries,
    sign_in_challenges,
)
from secinfo.domain.contacts import Channel
from secinfo.domain.model import (
    ChallengeReason,
    ChangeKind,
    ChangeStatus,
    Device,
    PasskeyChallenge,
    PasskeyPurpose,
    PendingChange,
    PrefixBlock,
    Recovery,
    RecoveryContact,
    SignInChallenge,
)


def _fields(row: sa.Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


def _change(row: sa.Row[Any]) -> PendingChange:
    values = _fields(row)
    values["kind"] = ChangeKind(values["kind"])
    values["status"] = ChangeStatus(values["status"])
    values["item_ids"] = json.loads(values["item_ids"])
    return PendingChange(**values)


class SqlPendingChanges:
    def __init__(self, connection: AsyncConnection, *, row_locks: bool) -> None:
        self.connection = connection
        self.row_locks = row_locks

    async def add(self, change: PendingChange) -> None:
        values = vars(change).copy()
        values["kind"] = change.kind.value
        values["status"] = change.status.value
        values["item_ids"] = json.dumps(change.item_ids)
        await self.connection.execute(pending_changes.insert().values(values))

    async def get(self, change_id: str) -> PendingChange | None:
        row = (
            await self.connection.execute(
                pending_changes.select().where(pending_changes.c.id == change_id)
            )
        ).first()
        return _change(row) if row else None

    async def pending_for_account(self, account_id: str) -> PendingChange | None:
        row = (
            await self.connection.execute(
                pending_changes.select().where(
                    pending_changes.c.account_id == account_id,
                    pending_changes.c.status == ChangeStatus.PENDING.value,
                )
            )
        ).first()
        return _change(row) if row else None

    async def finish(self, change: PendingChange) -> bool:
        result = await self.connection.execute(
            pending_changes.update()
            .where(
                pending_changes.c.id == change.id,
                pending_changes.c.status == ChangeStatus.PENDING.value,
            )
            .values(
                status=change.status.value,
                canceled_at=change.canceled_at,
                completed_at=change.completed_at,
            )
        )
        return bool(result.rowcount == 1)

    async def move_reminder(self, change: PendingChange, previous: datetime) -> bool:
        result = await self.connection.execute(
            pending_changes.update()
            .where(
                pending_changes.c.id == change.id,
                pending_changes.c.status == ChangeStatus.PENDING.value,
                pending_changes.c.next_reminder_at == previous,
            )
            .values(next_reminder_at=change.next_reminder_at)
        )
        return bool(result.rowcount == 1)

    async def due(self, now: datetime, limit: int) -> list[PendingChange]:
        rows = await self.connection.execute(
            pending_changes.select()
            .where(
                pending_changes.c.status == ChangeStatus.PENDING.value,
                pending_changes.c.ends_at <= now,
            )
            .order_by(pending_changes.c.ends_at)
            .limit(limit)
        )
        return [_change(row) for row in rows]

    async def reminders_due(self, now: datetime, limit: int) -> list[PendingChange]:
        rows = await self.connection.execute(
            pending_changes.select()
            .where(
                pending_changes.c.status == ChangeStatus.PENDING.value,
                pending_changes.c.next_reminder_at <= now,
                pending_changes.c.ends_at > now,
            )
            .order_by(pending_changes.c.next_reminder_at)
            .limit(limit)
        )
        return [_change(row) for row in rows]


class SqlDevices:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, device: Device) -> None:
        await self.connection.execute(devices.insert().values(vars(device)))

    async def get_by_token_hash(self, account_id: str, token_hash: str) -> Device | None:
        row = (
            await self.connection.execute(
                devices.select().where(
                    devices.c.account_id == account_id, devices.c.token_hash == token_hash
                )
            )
        ).first()
        return Device(**_fields(row)) if row else None

    async def update(self, device: Device) -> None:
        await self.connection.execute(
            devices.update().where(devices.c.id == device.id).values(vars(device))
        )


class SqlKnownNetworks:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def is_known(self, account_id: str, network: str) -> bool:
        found = await self.connection.scalar(
            sa.select(sa.literal(1)).where(
                known_networks.c.account_id == account_id, known_networks.c.network == network
            )
        )
        return found is not None

    async def countries(self, account_id: str) -> set[str]:
        rows = await self.connection.execute(
            sa.select(known_networks.c.country)
            .where(known_networks.c.account_id == account_id)
            .distinct()
        )
        return {row.country for row in rows if row.country}

    async def remember(
        self, account_id: str, network: str, country: str | None, now: datetime
    ) -> None:
        updated = await self.connection.execute(
            known_networks.update()
            .where(known_networks.c.account_id == account_id, known_networks.c.network == network)
            .values(last_seen_at=now, country=country)
        )
        if updated.rowcount == 0:
            await self.connection.execute(
                known_networks.insert().values(
                    account_id=account_id,
                    network=network,
                    country=country,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )


class SqlChallenges:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, challenge: SignInChallenge) -> None:
        values = vars(challenge).copy()
        values["reason"] = challenge.reason.value
        await self.connection.execute(sign_in_challenges.insert().values(values))

    async def get(self, challenge_id: str) -> SignInChallenge | None:
        row = (
            await self.connection.execute(
                sign_in_challenges.select().where(sign_in_challenges.c.id == challenge_id)
            )
        ).first()
        if row is None:
            return None
        values = _fields(row)
        values["reason"] = ChallengeReason(values["reason"])
        return SignInChallenge(**values)

    async def update(self, challenge: SignInChallenge) -> None:
        values = vars(challenge).copy()
        values["reason"] = challenge.reason.value
        await self.connection.execute(
            sign_in_challenges.update()
            .where(sign_in_challenges.c.id == challenge.id)
            .values(values)
        )


class SqlPasskeyChallenges:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, challenge: PasskeyChallenge) -> None:
        values = vars(challenge).copy()
        values["purpose"] = challenge.purpose.value
        await self.connection.execute(passkey_challenges.insert().values(values))

    async def get(self, challenge_id: str) -> PasskeyChallenge | None:
        row = (
            await self.connection.execute(
                passkey_challenges.select().where(passkey_challenges.c.id == challenge_id)
            )
        ).first()
        if row is None:
            return None
        values = _fields(row)
        values["purpose"] = PasskeyPurpose(values["purpose"])
        return PasskeyChallenge(**values)

    async def consume(self, challenge: PasskeyChallenge, now: datetime) -> bool:
        """Mark it used if no one did before: a challenge is answered once."""
        result = await self.connection.execute(
            passkey_challenges.update()
            .where(passkey_challenges.c.id == challenge.id, passkey_challenges.c.used_at.is_(None))
            .values(used_at=now)
        )
        if result.rowcount != 1:
            return False
        challenge.used_at = now
        return True

    async def purge_before(self, cutoff: datetime) -> int:
        result = await self.connection.execute(
            passkey_challenges.delete().where(passkey_challenges.c.expires_at < cutoff)
        )
        return int(result.rowcount or 0)


class SqlRecoveries:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    @staticmethod
    def _values(recovery: Recovery) -> dict[str, Any]:
        return {
            "id": recovery.id,
            "account_id": recovery.account_id,
            "contacts": json.dumps(
                [
                    asdict(contact) | {"channel": contact.channel.value}
                    for contact in recovery.contacts
                ]
            ),
            "proofs_needed": recovery.proofs_needed,
            "proven_item_ids": json.dumps(recovery.proven_item_ids),
            "created_at": recovery.created_at,
            "expires_at": recovery.expires_at,
            "completed_at": recovery.completed_at,
        }

    async def add(self, recovery: Recovery) -> None:
        await self.connection.execute(recoveries.insert().values(self._values(recovery)))

    async def get(self, recovery_id: str) -> Recovery | None:
        row = (
            await self.connection.execute(recoveries.select().where(recoveries.c.id == recovery_id))
        ).first()
        if row is None:
            return None
        values = _fields(row)
        values["contacts"] = [
            RecoveryContact(**(contact | {"channel": Channel(contact["channel"])}))
            for contact in json.loads(values["contacts"])
        ]
        values["proven_item_ids"] = json.loads(values["proven_item_ids"])
        return Recovery(**values)

    async def update(self, recovery: Recovery) -> None:
        await self.connection.execute(
            recoveries.update().where(recoveries.c.id == recovery.id).values(self._values(recovery))
        )


class SqlBilling:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, account_id: str) -> tuple[dict[str, object], datetime] | None:
        row = (
            await self.connection.execute(
                billing_profiles.select().where(billing_profiles.c.account_id == account_id)
            )
        ).first()
        if row is None:
            return None
        profile: dict[str, object] = json.loads(row.profile)
        return profile, row.updated_at

    async def put(self, account_id: str, profile: dict[str, object], now: datetime) -> None:
        encoded = json.dumps(profile, separators=(",", ":"))
        updated = await self.connection.execute(
            billing_profiles.update()
            .where(billing_profiles.c.account_id == account_id)
            .values(profile=encoded, updated_at=now)
        )
        if updated.rowcount == 0:
            await self.connection.execute(
                billing_profiles.insert().values(
                    account_id=account_id, profile=encoded, updated_at=now
                )
            )


class SqlPrefixBlocks:
    """Destination prefixes the SMS-pumping guard blocked, kept for operators."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def active(self, prefix: str, now: datetime) -> PrefixBlock | None:
        row = (
            await self.connection.execute(
                blocked_prefixes.select()
                .where(
                    blocked_prefixes.c.prefix == prefix,
                    blocked_prefixes.c.until > now,
                    blocked_prefixes.c.lifted_at.is_(None),
                )
                .limit(1)
            )
        ).first()
        return PrefixBlock(**_fields(row)) if row else None

    async def add(self, block: PrefixBlock) -> None:
        values = vars(block).copy()
        values.pop("id")
        await self.connection.execute(blocked_prefixes.insert().values(values))

    async def list_active(self, now: datetime) -> list[PrefixBlock]:
        rows = await self.connection.execute(
            blocked_prefixes.select()
            .where(blocked_prefixes.c.until > now, blocked_prefixes.c.lifted_at.is_(None))
            .order_by(blocked_prefixes.c.blocked_at.desc())
        )
        return [PrefixBlock(**_fields(row)) for row in rows]

    async def lift(self, prefix: str, now: datetime) -> int:
        result = await self.connection.execute(
            blocked_prefixes.update()
            .where(
                blocked_prefixes.c.prefix == prefix,
                blocked_prefixes.c.until > now,
                blocked_prefixes.c.lifted_at.is_(None),
            )
            .values(lifted_at=now)
        )
        return int(result.rowcount)
