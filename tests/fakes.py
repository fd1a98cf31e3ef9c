"""In-memory fakes of every port the services use (cosmicpython's FakeUnitOfWork idea).

A :class:`FakeStore` holds what has been committed. Each :class:`FakeUnitOfWork` reads
through to it but keeps its own writes apart until ``commit()``; leaving the block
without committing throws them away. Objects are deep-copied on the way in and out, so
a service mutating what it read changes nothing until it calls ``update`` and commits.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import re
from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import anyio

from secinfo.adapters.delivery.templates import JinjaRenderer
from secinfo.domain.codes import CodeHasher
from secinfo.domain.contacts import Channel, contact_key
from secinfo.domain.model import (
    Account,
    AccountStatus,
    ActivityEvent,
    ApiKey,
    ChangeStatus,
    Device,
    InfoState,
    MessageStatus,
    OutgoingMessage,
    PasskeyChallenge,
    PendingChange,
    Recovery,
    RequestContext,
    SecurityInfo,
    Session,
    SignInChallenge,
)
from secinfo.domain.verification import Status, Verification
from secinfo.domain.webhooks import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from secinfo.ports import ErasurePlan, HeldData, MessageRecord, OperatorRecord, RateLimiter
from secinfo.services import accounts
from secinfo.services import signin as signin
from secinfo.services import step_up as step_up_service
from secinfo.services.accounts import NewSession
from secinfo.services.deps import Deps, ServiceConfig

if TYPE_CHECKING:  # being added to the model alongside the SMS-pumping guard
    from secinfo.domain.model import PrefixBlock

T = TypeVar("T")

START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
CODE_SECRET = b"unit-test-code-secret-0123456789"
_DELETED = object()


# -- time and passwords -------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current


class FakePasswords:
    """A cheap, deterministic stand-in for argon2id that counts its calls. Hashes made
    "with older parameters" (``LEGACY_PREFIX``) still verify and need a rehash."""

    PREFIX = "fake$"
    LEGACY_PREFIX = "fake-old$"

    def __init__(self) -> None:
        self.hashes = 0
        self.verifies = 0
        self.burns = 0
        self.places = 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return self.PREFIX + password

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifies += 1
        return password_hash in (self.PREFIX + password, self.LEGACY_PREFIX + password)

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(self.PREFIX)

    def place(self) -> AbstractContextManager[None]:
        self.places += 1
        return contextlib.nullcontext()

    def refuse_if_busy(self) -> None:
        pass

    async def burn(self) -> None:
        self.burns += 1


# -- storage ------------------------------------------------------------------------------


@dataclass
class KnownNetwork:
    """A row of ``known_networks``: a network (and its country) an account signed in from."""

    account_id: str
    network: str
    country: str | None
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass
class BillingProfile:
    profile: str  # JSON text, as the SQL table keeps it
    updated_at: datetime


# How long a fake row lock is waited for. A real database waits until the holder ends;
# a unit of work holding the lock in the *same* task would wait forever, so fail instead.
LOCK_WAIT_SECONDS = 2.0


class RowLocks:
    """``SELECT … FOR UPDATE`` / conditional ``UPDATE`` row locks, held until the unit of
    work that took them commits or rolls back. Another unit of work waits for them, then
    re-reads the committed row: this is what makes ``finish`` exactly-once."""

    def __init__(self) -> None:
        self.holders: dict[tuple[str, str], tuple[object, anyio.Event]] = {}

    async def acquire(self, table: str, key: str, owner: object) -> None:
        while True:
            held = self.holders.get((table, key))
            if held is None:
                self.holders[(table, key)] = (owner, anyio.Event())
                return
            if held[0] is owner:
                return
            try:
                with anyio.fail_after(LOCK_WAIT_SECONDS):
                    await held[1].wait()
            except TimeoutError:
                raise AssertionError(
                    f"{table} row {key!r} is locked by another open unit of work in this "
                    "task: a real database would wait here forever"
                ) from None

    def release_all(self, owner: object) -> None:
        for key, (holder, released) in list(self.holders.items()):
            if holder is owner:
                del self.holders[key]
                released.set()


@dataclass
class FakeStore:
    """The committed state shared by every unit of work of one factory."""

    accounts: dict[str, Account] = field(default_factory=dict)
    security_info: dict[str, SecurityInfo] = field(default_factory=dict)
    verifications: dict[str, Verification] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    outbox: dict[str, OutgoingMessage] = field(default_factory=dict)
    activity: dict[str, ActivityEvent] = field(default_factory=dict)
    pending_changes: dict[str, PendingChange] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    known_networks: dict[str, KnownNetwork] = field(default_factory=dict)
    challenges: dict[str, SignInChallenge] = field(default_factory=dict)
    recoveries: dict[str, Recovery] = field(default_factory=dict)
    passkey_challenges: dict[str, PasskeyChallenge] = field(default_factory=dict)
    billing: dict[str, BillingProfile] = field(default_factory=dict)
    prefix_blocks: dict[str, PrefixBlock] = field(default_factory=dict)
    webhooks: dict[str, WebhookEndpoint] = field(default_factory=dict)
    operators: dict[str, OperatorRecord] = field(default_factory=dict)
    commits: int = 0
    next_prefix_block_id: int = 1
    locks: RowLocks = field(default_factory=RowLocks, repr=False, compare=False)

    def messages(self) -> list[OutgoingMessage]:
        """Every committed message, in the order it was queued."""
        return [copy.deepcopy(message) for message in self.outbox.values()]

    def events(self, account_id: str | None = None) -> list[ActivityEvent]:
        return [
            copy.deepcopy(event)
            for event in self.activity.values()
            if account_id is None or event.account_id == account_id
        ]


UniqueKey = Callable[[T], Hashable | None]


class _Table(Generic[T]):
    """One table as one unit of work sees it: the committed rows plus its own writes.

    ``unique`` mirrors the SQL unique indexes (partial ones return None for rows outside
    the index); a write that would break one fails like the database would.
    """

    def __init__(
        self, name: str, committed: dict[str, T], unique: tuple[UniqueKey[T], ...] = ()
    ) -> None:
        self.name = name
        self.committed = committed
        self.unique = unique
        self.changes: dict[str, object] = {}

    def get(self, key: str) -> T | None:
        if key in self.changes:
            row = self.changes[key]
            return None if row is _DELETED else copy.deepcopy(row)  # type: ignore[return-value]
        row_ = self.committed.get(key)
        return copy.deepcopy(row_) if row_ is not None else None

    def _check_unique(self, key: str, row: T, others: Iterator[tuple[str, T]]) -> None:
        wanted = [(index, unique(row)) for index, unique in enumerate(self.unique)]
        wanted = [(index, value) for index, value in wanted if value is not None]
        if not wanted:
            return
        for other_key, other in others:
            if other_key == key:
                continue
            for index, value in wanted:
                if self.unique[index](other) == value:
                    raise AssertionError(
                        f"unique index {index} of {self.name} violated by {key!r}: {value!r}"
                    )

    def put(self, key: str, row: T) -> None:
        self._check_unique(key, row, self.items())
        self.changes[key] = copy.deepcopy(row)

    def insert(self, key: str, row: T) -> None:
        if self.get(key) is not None:
            raise AssertionError(f"duplicate primary key {key!r} in {self.name}")
        self.put(key, row)

    def require(self, key: str) -> None:
        if self.get(key) is None:
            raise AssertionError(f"update of a row that does not exist: {self.name} {key!r}")

    def delete(self, key: str) -> None:
        self.changes[key] = _DELETED

    def items(self) -> Iterator[tuple[str, T]]:
        """Every visible (key, row copy), committed order first, then new ones."""
        for key in [*self.committed, *(k for k in self.changes if k not in self.committed)]:
            row = self.get(key)
            if row is not None:
                yield key, row

    def rows(self) -> Iterator[T]:
        for _, row in self.items():
            yield row

    def check_commit(self) -> None:
        """Another unit of work may have committed a clashing row since ours was written."""
        for key, row in self.changes.items():
            if row is not _DELETED:
                committed = ((k, r) for k, r in self.committed.items() if k not in self.changes)
                self._check_unique(key, row, committed)  # type: ignore[arg-type]

    def apply(self) -> None:
        for key, row in self.changes.items():
            if row is _DELETED:
                self.committed.pop(key, None)
            else:
                self.committed[key] = copy.deepcopy(row)  # type: ignore[assignment]
        self.changes.clear()


class FakeAccounts:
    def __init__(self, table: _Table[Account]) -> None:
        self.table = table

    async def add(self, account: Account) -> None:
        self.table.insert(account.id, account)

    async def get(self, account_id: str) -> Account | None:
        return self.table.get(account_id)

    async def update(self, account: Account) -> None:
        self.table.require(account.id)
        stored = self.table.get(account.id)
        assert stored is not None
        # Like the SQL repository: the lock is written by ``lock`` and ``unlock`` only.
        self.table.put(
            account.id,
            replace(
                account,
                locked_at=stored.locked_at,
                locked_reason=stored.locked_reason,
                locked_by=stored.locked_by,
            ),
        )

    async def delete(self, account_id: str) -> None:
        self.table.delete(account_id)

    async def replace_password_hash(self, account_id: str, expected: str, new: str) -> bool:
        stored = self.table.get(account_id)
        if stored is None or stored.password_hash != expected:
            return False
        self.table.put(account_id, replace(stored, password_hash=new))
        return True

    async def lock(self, account_id: str, now: datetime, reason: str | None, by: str) -> bool:
        stored = self.table.get(account_id)
        if stored is None or stored.locked_at is not None:
            return False
        self.table.put(
            account_id, replace(stored, locked_at=now, locked_reason=reason, locked_by=by)
        )
        return True

    async def unlock(self, account_id: str) -> bool:
        stored = self.table.get(account_id)
        if stored is None or stored.locked_at is None:
            return False
        self.table.put(
            account_id, replace(stored, locked_at=None, locked_reason=None, locked_by=None)
        )
        return True

    async def record_sign_in(self, account_id: str, at: datetime) -> None:
        stored = self.table.get(account_id)
        if stored is not None:
            self.table.put(account_id, replace(stored, last_sign_in_at=at))

    async def set_reconfirm(
        self, account_id: str, prompted_at: datetime | None, skipped_until: datetime | None
    ) -> None:
        stored = self.table.get(account_id)
        if stored is not None:
            self.table.put(
                account_id,
                replace(
                    stored, reconfirm_prompted_at=prompted_at, reconfirm_skipped_until=skipped_until
                ),
            )


class FakeSecurityInfo:
    def __init__(self, table: _Table[SecurityInfo], accounts: _Table[Account]) -> None:
        self.table = table
        self.accounts = accounts

    async def add(self, item: SecurityInfo) -> None:
        self.table.insert(item.id, item)

    async def get(self, item_id: str) -> SecurityInfo | None:
        return self.table.get(item_id)

    async def update(self, item: SecurityInfo) -> None:
        """Like SQL: the secret and the last accepted step are not written by an update."""
        stored = self.table.get(item.id)
        assert stored is not None, f"update of a row that does not exist: {item.id!r}"
        row = copy.copy(item)
        row.secret, row.last_step = stored.secret, stored.last_step
        self.table.put(item.id, row)

    async def claim_step(self, item: SecurityInfo, step: int) -> bool:
        stored = self.table.get(item.id)
        if stored is None or (stored.last_step is not None and stored.last_step >= step):
            return False
        stored.last_step = step
        self.table.put(item.id, stored)
        item.last_step = step
        return True

    async def replace_secret(self, item: SecurityInfo, expected: str | None, new: str) -> bool:
        stored = self.table.get(item.id)
        if stored is None or stored.secret != expected:
            return False
        stored.secret = new
        self.table.put(item.id, stored)
        item.secret = new
        return True

    async def find_passkey(self, credential_id: str) -> SecurityInfo | None:
        return next(
            (item for item in self.table.rows() if item.credential_id == credential_id), None
        )

    async def list_for_account(self, account_id: str) -> list[SecurityInfo]:
        items = [
            item
            for item in self.table.rows()
            if item.account_id == account_id and item.state is not InfoState.REMOVED
        ]
        return sorted(items, key=lambda item: (item.added_at, item.id))

    async def find_sign_in_name(self, value: str) -> SecurityInfo | None:
        """Like SQL: switched on and not pending, compared on the contact key (the exact
        spelling first); a removed item may still be a name."""
        names = [
            item
            for item in self.table.rows()
            if contact_key(item.value) == contact_key(value)
            and item.sign_in
            and item.state is not InfoState.PENDING
        ]
        names.sort(key=lambda item: item.value != value)
        return names[0] if names else None

    async def list_sign_in_names(self, account_id: str) -> list[SecurityInfo]:
        names = [
            item
            for item in self.table.rows()
            if item.account_id == account_id
            and item.sign_in
            and item.state is not InfoState.PENDING
        ]
        return sorted(names, key=lambda item: (item.added_at, item.id))

    async def find_sign_in_account(self, value: str) -> str | None:
        item = await self.find_sign_in_name(value)
        return item.account_id if item else None

    async def sample_accounts(self, limit: int) -> list[list[SecurityInfo]]:
        active = {
            account.id for account in self.accounts.rows() if account.status is AccountStatus.ACTIVE
        }
        picked = random.sample(sorted(active), min(limit, len(active)))
        return [await self.list_for_account(account_id) for account_id in picked]


class FakeVerifications:
    def __init__(self, table: _Table[Verification]) -> None:
        self.table = table

    async def add(self, verification: Verification) -> None:
        self.table.insert(verification.id, verification)

    async def get(self, verification_id: str) -> Verification | None:
        return self.table.get(verification_id)

    async def get_for_update(self, verification_id: str) -> Verification | None:
        return self.table.get(verification_id)

    async def update(self, verification: Verification) -> None:
        self.table.require(verification.id)
        self.table.put(verification.id, verification)

    async def pending_for_api_key(
        self, api_key_id: str, channel: Channel, destination: str
    ) -> Verification | None:
        matches = [
            verification
            for verification in self.table.rows()
            if verification.api_key_id == api_key_id
            and verification.channel is channel
            and verification.destination == destination
            and verification.status is Status.PENDING
        ]
        assert len(matches) <= 1, "ux_verifications_pending_api allows one pending row"
        return matches[0] if matches else None


class FakeSessions:
    def __init__(self, table: _Table[Session]) -> None:
        self.table = table

    async def add(self, session: Session) -> None:
        self.table.insert(session.id, session)

    async def get(self, session_id: str) -> Session | None:
        return self.table.get(session_id)

    async def get_by_token_hash(self, token_hash: str) -> Session | None:
        return next((s for s in self.table.rows() if s.token_hash == token_hash), None)

    async def update(self, session: Session) -> None:
        self.table.require(session.id)
        self.table.put(session.id, session)

    async def revoke_all(
        self, account_id: str, now: datetime, keep_session_id: str | None = None
    ) -> int:
        count = 0
        for session in self.table.rows():
            if (
                session.account_id == account_id
                and session.revoked_at is None
                and session.id != keep_session_id
            ):
                session.revoked_at = now
                self.table.put(session.id, session)
                count += 1
        return count

    async def count_live(self, account_id: str, now: datetime) -> int:
        return sum(
            1
            for session in self.table.rows()
            if session.account_id == account_id and session.is_live(now)
        )


class FakeApiKeys:
    def __init__(self, table: _Table[ApiKey]) -> None:
        self.table = table

    async def add(self, api_key: ApiKey) -> None:
        self.table.insert(api_key.id, api_key)

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return next((key for key in self.table.rows() if key.key_hash == key_hash), None)

    async def list(self) -> list[ApiKey]:
        return sorted(self.table.rows(), key=lambda key: key.created_at)

    async def get(self, api_key_id: str) -> ApiKey | None:
        return self.table.get(api_key_id)

    async def update(self, api_key: ApiKey) -> None:
        self.table.require(api_key.id)
        self.table.put(api_key.id, api_key)


class FakeOutbox:
    def __init__(self, table: _Table[OutgoingMessage]) -> None:
        self.table = table

    async def add(self, message: OutgoingMessage) -> None:
        self.table.insert(message.id, message)

    async def latest_status_for_verification(self, verification_id: str) -> MessageStatus | None:
        latest: OutgoingMessage | None = None
        for message in self.table.rows():  # queue order: the later of equal times wins
            if message.verification_id == verification_id and (
                latest is None or message.created_at >= latest.created_at
            ):
                latest = message
        return latest.status if latest else None


class FakeActivity:
    def __init__(self, table: _Table[ActivityEvent]) -> None:
        self.table = table

    async def add(self, event: ActivityEvent) -> None:
        self.table.insert(event.id, event)

    async def list_for_account(
        self, account_id: str, limit: int, before: str | None = None
    ) -> list[ActivityEvent]:
        """Newest first by insertion order (the SQL ``seq``); ``before`` is an event id,
        and an unknown one gives an empty page (``seq < NULL`` in SQL)."""
        events = list(self.table.rows())  # insertion order
        if before is not None:
            position = next((i for i, event in enumerate(events) if event.id == before), None)
            events = [] if position is None else events[:position]
        mine = [event for event in events if event.account_id == account_id]
        return list(reversed(mine))[:limit]

    async def get(self, event_id: str) -> ActivityEvent | None:
        return self.table.get(event_id)

    async def count_since(self, account_id: str, type: str, since: datetime) -> int:
        return sum(
            1
            for event in self.table.rows()
            if event.account_id == account_id and event.type == type and event.created_at >= since
        )

    async def purge_before(self, cutoff: datetime) -> int:
        old = [event.id for event in self.table.rows() if event.created_at < cutoff]
        for event_id in old:
            self.table.delete(event_id)
        return len(old)


class FakePendingChanges:
    def __init__(self, table: _Table[PendingChange], locks: RowLocks, owner: object) -> None:
        self.table = table
        self.locks = locks
        self.owner = owner

    async def add(self, change: PendingChange) -> None:
        self.table.insert(change.id, change)

    async def get(self, change_id: str) -> PendingChange | None:
        return self.table.get(change_id)

    async def pending_for_account(self, account_id: str) -> PendingChange | None:
        return next(
            (
                change
                for change in self.table.rows()
                if change.account_id == account_id and change.status is ChangeStatus.PENDING
            ),
            None,
        )

    async def _lock_pending(self, change_id: str) -> PendingChange | None:
        """``UPDATE … WHERE id = ? AND status = 'pending'``: lock, then re-read."""
        await self.locks.acquire(self.table.name, change_id, self.owner)
        current = self.table.get(change_id)
        if current is None or current.status is not ChangeStatus.PENDING:
            return None
        return current

    async def finish(self, change: PendingChange) -> bool:
        current = await self._lock_pending(change.id)
        if current is None:
            return False
        current.status = change.status
        current.canceled_at = change.canceled_at
        current.completed_at = change.completed_at
        self.table.put(change.id, current)
        return True

    async def move_reminder(self, change: PendingChange, previous: datetime) -> bool:
        current = await self._lock_pending(change.id)
        if current is None or current.next_reminder_at != previous:
            return False
        current.next_reminder_at = change.next_reminder_at
        self.table.put(change.id, current)
        return True

    async def due(self, now: datetime, limit: int) -> list[PendingChange]:
        due = [
            change
            for change in self.table.rows()
            if change.status is ChangeStatus.PENDING and change.ends_at <= now
        ]
        return sorted(due, key=lambda change: change.ends_at)[:limit]

    async def reminders_due(self, now: datetime, limit: int) -> list[PendingChange]:
        due = [
            change
            for change in self.table.rows()
            if change.status is ChangeStatus.PENDING
            and change.next_reminder_at <= now
            and change.ends_at > now
        ]
        return sorted(due, key=lambda change: change.next_reminder_at)[:limit]


class FakeDevices:
    def __init__(self, table: _Table[Device]) -> None:
        self.table = table

    async def add(self, device: Device) -> None:
        self.table.insert(device.id, device)

    async def get_by_token_hash(self, account_id: str, token_hash: str) -> Device | None:
        return next(
            (
                device
                for device in self.table.rows()
                if device.account_id == account_id and device.token_hash == token_hash
            ),
            None,
        )

    async def update(self, device: Device) -> None:
        self.table.require(device.id)
        self.table.put(device.id, device)


class FakeKnownNetworks:
    def __init__(self, table: _Table[KnownNetwork]) -> None:
        self.table = table

    @staticmethod
    def _key(account_id: str, network: str) -> str:
        return f"{account_id}|{network}"

    async def is_known(self, account_id: str, network: str) -> bool:
        return self.table.get(self._key(account_id, network)) is not None

    async def countries(self, account_id: str) -> set[str]:
        return {
            row.country for row in self.table.rows() if row.account_id == account_id and row.country
        }

    async def remember(
        self, account_id: str, network: str, country: str | None, now: datetime
    ) -> None:
        key = self._key(account_id, network)
        row = self.table.get(key)
        if row is None:
            row = KnownNetwork(account_id, network, country, first_seen_at=now, last_seen_at=now)
        else:
            row.last_seen_at = now
            row.country = country
        self.table.put(key, row)


class FakeChallenges:
    def __init__(self, table: _Table[SignInChallenge]) -> None:
        self.table = table

    async def add(self, challenge: SignInChallenge) -> None:
        self.table.insert(challenge.id, challenge)

    async def get(self, challenge_id: str) -> SignInChallenge | None:
        return self.table.get(challenge_id)

    async def update(self, challenge: SignInChallenge) -> None:
        self.table.require(challenge.id)
        self.table.put(challenge.id, challenge)


class FakeRecoveries:
    def __init__(self, table: _Table[Recovery]) -> None:
        self.table = table

    async def add(self, recovery: Recovery) -> None:
        self.table.insert(recovery.id, recovery)

    async def get(self, recovery_id: str) -> Recovery | None:
        return self.table.get(recovery_id)

    async def update(self, recovery: Recovery) -> None:
        self.table.require(recovery.id)
        self.table.put(recovery.id, recovery)


class FakePasskeyChallenges:
    def __init__(self, table: _Table[PasskeyChallenge]) -> None:
        self.table = table

    async def add(self, challenge: PasskeyChallenge) -> None:
        self.table.insert(challenge.id, challenge)

    async def get(self, challenge_id: str) -> PasskeyChallenge | None:
        return self.table.get(challenge_id)

    async def consume(self, challenge: PasskeyChallenge, now: datetime) -> bool:
        stored = self.table.get(challenge.id)
        if stored is None or stored.used_at is not None:
            return False
        stored.used_at = now
        self.table.put(challenge.id, stored)
        challenge.used_at = now
        return True

    async def purge_before(self, cutoff: datetime) -> int:
        old = [key for key, row in self.table.items() if row.expires_at < cutoff]
        for key in old:
            self.table.delete(key)
        return len(old)


class FakeBilling:
    """Kept as JSON text like the SQL table, so what cannot be stored fails here too."""

    def __init__(self, table: _Table[BillingProfile]) -> None:
        self.table = table

    async def get(self, account_id: str) -> tuple[dict[str, object], datetime] | None:
        row = self.table.get(account_id)
        if row is None:
            return None
        profile: dict[str, object] = json.loads(row.profile)
        return profile, row.updated_at

    async def put(self, account_id: str, profile: dict[str, object], now: datetime) -> None:
        encoded = json.dumps(profile, separators=(",", ":"))
        self.table.put(account_id, BillingProfile(encoded, now))


class FakePrefixBlocks:
    """SMS destination prefixes the pumping guard blocked; ids are assigned on insert."""

    def __init__(self, table: _Table[PrefixBlock], store: FakeStore) -> None:
        self.table = table
        self.store = store

    @staticmethod
    def _in_force(block: PrefixBlock, now: datetime) -> bool:
        return block.until > now and block.lifted_at is None

    async def active(self, prefix: str, now: datetime) -> PrefixBlock | None:
        return next(
            (b for b in self.table.rows() if b.prefix == prefix and self._in_force(b, now)),
            None,
        )

    async def add(self, block: PrefixBlock) -> None:
        block_id = self.store.next_prefix_block_id
        self.store.next_prefix_block_id += 1
        self.table.insert(str(block_id), replace(block, id=block_id))

    async def list_active(self, now: datetime) -> list[PrefixBlock]:
        blocks = [block for block in self.table.rows() if self._in_force(block, now)]
        return sorted(blocks, key=lambda block: block.blocked_at, reverse=True)

    async def lift(self, prefix: str, now: datetime) -> int:
        lifted = 0
        for key, block in list(self.table.items()):
            if block.prefix == prefix and self._in_force(block, now):
                block.lifted_at = now
                self.table.put(key, block)
                lifted += 1
        return lifted


class FakeWebhooks:
    """Endpoints, and their deliveries read from the outbox (no attempt log: the fake
    outbox has no worker)."""

    def __init__(self, table: _Table[WebhookEndpoint], outbox: _Table[OutgoingMessage]) -> None:
        self.table = table
        self.outbox = outbox

    async def add(self, endpoint: WebhookEndpoint) -> None:
        self.table.insert(endpoint.id, endpoint)

    async def get(self, endpoint_id: str) -> WebhookEndpoint | None:
        return self.table.get(endpoint_id)

    async def list_all(self) -> list[WebhookEndpoint]:
        return sorted(self.table.rows(), key=lambda endpoint: endpoint.created_at)

    async def list_enabled(self) -> list[WebhookEndpoint]:
        return [endpoint for endpoint in await self.list_all() if endpoint.enabled]

    async def update(self, endpoint: WebhookEndpoint) -> None:
        self.table.require(endpoint.id)
        self.table.put(endpoint.id, endpoint)

    async def delete(self, endpoint_id: str) -> None:
        self.table.delete(endpoint_id)

    def _mine(self, endpoint_id: str) -> list[OutgoingMessage]:
        return [
            message
            for message in self.outbox.rows()
            if message.channel is Channel.WEBHOOK and message.destination == endpoint_id
        ]

    async def deliveries(
        self, endpoint_id: str, limit: int, status: str | None = None
    ) -> list[WebhookDelivery]:
        found = [
            WebhookDelivery(
                id=message.id,
                endpoint_id=endpoint_id,
                event_type=message.template,
                status=message.status.value,
                attempts=message.attempts,
                created_at=message.created_at,
                next_attempt_at=message.next_attempt_at,
                sent_at=message.sent_at,
                last_error=message.last_error,
                attempt_log=list[DeliveryAttempt](),
            )
            for message in reversed(self._mine(endpoint_id))
            if status is None or message.status.value == status
        ]
        return found[:limit]

    async def requeue(self, endpoint_id: str, delivery_id: str, now: datetime) -> str | None:
        message = next((m for m in self._mine(endpoint_id) if m.id == delivery_id), None)
        if message is None:
            return None
        before = message.status.value
        if message.status in (MessageStatus.DEAD, MessageStatus.FAILED):
            message.status = MessageStatus.QUEUED
            message.attempts = 0
            message.next_attempt_at = now
            self.outbox.put(message.id, message)
        return before


def _sign_in_name_key(item: SecurityInfo) -> Hashable | None:
    """``uq_security_info_sign_in_name``: value, where sign_in and state <> 'pending'."""
    return item.value if item.sign_in and item.state is not InfoState.PENDING else None


def _credential_id_key(item: SecurityInfo) -> Hashable | None:
    """``uq_security_info_credential_id``."""
    return item.credential_id


def _one_pending_change_key(change: PendingChange) -> Hashable | None:
    """``uq_pending_changes_one_per_account``: account_id, where status = 'pending'."""
    return change.account_id if change.status is ChangeStatus.PENDING else None


class SqlOnlyVerifyServices:
    """The Twilio-compatible front end's storage has no fake: its tests run on SQLite and
    PostgreSQL through real HTTP (tests/e2e/test_twilio_*.py)."""

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"verify_services.{name}: use the SQL unit of work")


class FakeOperators:
    def __init__(self, table: _Table[OperatorRecord]) -> None:
        self.table = table

    async def add(self, account_id: str, now: datetime) -> bool:
        if self.table.get(account_id) is not None:
            return False
        self.table.insert(account_id, OperatorRecord(account_id, now))
        return True

    async def remove(self, account_id: str) -> bool:
        if self.table.get(account_id) is None:
            return False
        self.table.delete(account_id)
        return True

    async def get(self, account_id: str) -> OperatorRecord | None:
        return self.table.get(account_id)

    async def list(self) -> list[OperatorRecord]:
        return sorted(self.table.rows(), key=lambda record: record.created_at)


class SqlOnlyOutboxLog:
    """The operators' outbox queries have no fake: the delivery-log pages are tested on
    SQLite and PostgreSQL (tests/integration/test_admin_pages.py)."""

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"outbox_log.{name}: use the SQL unit of work")


class FakePersonalData:
    """The personal-data store over the other fake tables: enough for the services'
    rules (closing, reopening, claiming an erasure); the SQL one is tested for what an
    erasure leaves behind."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    async def held(self, account_id: str) -> HeldData | None:
        uow = self.uow
        account = await uow.accounts.get(account_id)
        if account is None:
            return None
        operator = await uow.operators.get(account_id)
        items = [i for i in uow.security_info.table.rows() if i.account_id == account_id]
        keys = {contact_key(item.value) for item in items if item.channel is not None}
        found = [
            v
            for v in uow.verifications.table.rows()
            if v.account_id == account_id
            or (v.account_id is None and contact_key(v.destination) in keys)
        ]
        ids = {v.id for v in found}
        messages = [
            MessageRecord(
                m.id,
                m.channel.value,
                m.template,
                m.status.value,
                m.destination,
                m.created_at,
                m.sent_at,
                m.attempts,
            )
            for m in uow.outbox.table.rows()
            if m.verification_id in ids
            or (m.verification_id is None and contact_key(m.destination) in keys)
        ]
        return HeldData(
            account=replace(account, password_hash=""),
            items=[replace(item, secret=None) for item in items],
            sessions=[s for s in uow.sessions.table.rows() if s.account_id == account_id],
            devices=[d for d in uow.devices.table.rows() if d.account_id == account_id],
            networks=[],
            challenges=[c for c in uow.challenges.table.rows() if c.account_id == account_id],
            verifications=found,
            pending_changes=[
                c for c in uow.pending_changes.table.rows() if c.account_id == account_id
            ],
            activity=[e for e in uow.activity.table.rows() if e.account_id == account_id],
            messages=messages,
            billing=None,
            recoveries=[r for r in uow.recoveries.table.rows() if r.account_id == account_id],
            operator_since=(operator.created_at if operator else None),
        )

    async def held_by_others(self, account_id: str, values: set[str]) -> set[str]:
        others = {
            contact_key(item.value)
            for item in self.uow.security_info.table.rows()
            if item.account_id != account_id
        }
        return {value for value in values if contact_key(value) in others}

    async def closed_due(self, now: datetime, limit: int) -> list[str]:
        due = [
            a
            for a in self.uow.accounts.table.rows()
            if a.status is AccountStatus.CLOSED and a.erase_at is not None and a.erase_at <= now
        ]
        return [a.id for a in sorted(due, key=lambda a: a.erase_at or now)][:limit]

    async def claim_erasure(self, account_id: str, now: datetime, *, due_only: bool) -> bool:
        account = await self.uow.accounts.get(account_id)
        if account is None or account.status is AccountStatus.ERASED:
            return False
        if due_only and not (
            account.status is AccountStatus.CLOSED
            and account.erase_at is not None
            and account.erase_at <= now
        ):
            return False
        account.status, account.erased_at, account.erase_at = AccountStatus.ERASED, now, None
        await self.uow.accounts.update(account)
        return True

    async def reopen(self, account_id: str) -> bool:
        account = await self.uow.accounts.get(account_id)
        if account is None or account.status is not AccountStatus.CLOSED:
            return False
        account.status, account.closed_at, account.erase_at = AccountStatus.ACTIVE, None, None
        await self.uow.accounts.update(account)
        return True

    async def erase(self, plan: ErasurePlan) -> dict[str, int]:
        uow = self.uow
        replacements = {contact_key(k): v for k, v in plan.replacements.items()}
        count = 0
        for item in list(uow.security_info.table.rows()):
            if item.account_id == plan.account_id:
                erased = replacements.get(contact_key(item.value), item.value)
                uow.security_info.table.put(
                    item.id,
                    replace(
                        item,
                        value=erased,
                        label=None,
                        secret=None,
                        credential_id=None,
                        public_key=None,
                        aaguid=None,
                        sign_in=False,
                        state=InfoState.REMOVED,
                        removed_at=item.removed_at or plan.now,
                    ),
                )
                count += 1
        for session in list(uow.sessions.table.rows()):
            if session.account_id == plan.account_id:
                uow.sessions.table.delete(session.id)
        await uow.operators.remove(plan.account_id)
        return {"security_info": count}


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.committed = False
        self._tables: list[_Table[object]] = []
        self._open = False

    def _table(self, name: str, committed: dict[str, T], *unique: UniqueKey[T]) -> _Table[T]:
        table = _Table(name, committed, unique)
        self._tables.append(table)  # type: ignore[arg-type]
        return table

    async def __aenter__(self) -> Self:
        assert not self._open, "a unit of work is entered once"
        self._open = True
        store = self.store
        self._tables = []
        accounts_table = self._table(
            "accounts", store.accounts, lambda account: account.passkey_user_handle
        )
        self.accounts = FakeAccounts(accounts_table)
        self.security_info = FakeSecurityInfo(
            self._table(
                "security_info", store.security_info, _sign_in_name_key, _credential_id_key
            ),
            accounts_table,
        )
        self.verifications = FakeVerifications(self._table("verifications", store.verifications))
        self.sessions = FakeSessions(
            self._table("sessions", store.sessions, lambda session: session.token_hash)
        )
        self.api_keys = FakeApiKeys(
            self._table("api_keys", store.api_keys, lambda key: key.key_hash)
        )
        self.outbox = FakeOutbox(self._table("outbox", store.outbox))
        self.activity = FakeActivity(self._table("activity", store.activity))
        self.pending_changes = FakePendingChanges(
            self._table("pending_changes", store.pending_changes, _one_pending_change_key),
            store.locks,
            self,
        )
        self.devices = FakeDevices(
            self._table(
                "devices", store.devices, lambda device: (device.account_id, device.token_hash)
            )
        )
        self.known_networks = FakeKnownNetworks(self._table("known_networks", store.known_networks))
        self.challenges = FakeChallenges(self._table("challenges", store.challenges))
        self.recoveries = FakeRecoveries(self._table("recoveries", store.recoveries))
        self.passkey_challenges = FakePasskeyChallenges(
            self._table("passkey_challenges", store.passkey_challenges)
        )
        self.billing = FakeBilling(self._table("billing", store.billing))
        self.verify_services = SqlOnlyVerifyServices()
        self.prefix_blocks = FakePrefixBlocks(
            self._table("prefix_blocks", store.prefix_blocks), store
        )
        self.webhooks = FakeWebhooks(self._table("webhooks", store.webhooks), self.outbox.table)
        self.operators = FakeOperators(self._table("operators", store.operators))
        self.outbox_log = SqlOnlyOutboxLog()
        self.personal_data = FakePersonalData(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for table in self._tables:  # rollback: whatever was not committed is dropped
            table.changes.clear()
        self.store.locks.release_all(self)
        self._open = False

    async def relax_durability(self) -> None:
        assert self._open, "outside the unit of work"

    async def commit(self) -> None:
        assert self._open, "commit outside the unit of work"
        for table in self._tables:
            table.check_commit()
        for table in self._tables:
            table.apply()
        self.store.locks.release_all(self)
        self.committed = True
        self.store.commits += 1


class FakeUnitOfWorkFactory:
    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        self.opened = 0

    def __call__(self) -> FakeUnitOfWork:
        self.opened += 1
        return FakeUnitOfWork(self.store)


# -- wiring -------------------------------------------------------------------------------


@dataclass
class Wakeups:
    count: int = 0

    def __call__(self) -> None:
        self.count += 1


class NoLimits:
    """A limiter that allows everything: a unit-test stand-in, never a default."""

    async def hit(self, name: str, key: str) -> None:
        return None

    async def check(self, name: str, key: str) -> None:
        return None

    async def hit_rates(self, name: str, key: str, rates: str, description: str) -> None:
        return None

    async def clear(self, name: str, key: str) -> None:
        return None

    async def incr(self, key: str, expiry_seconds: int) -> int:
        return 0

    async def get(self, key: str) -> int:
        return 0


def make_deps(
    *,
    uow: FakeUnitOfWorkFactory | None = None,
    clock: FakeClock | None = None,
    passwords: FakePasswords | None = None,
    config: ServiceConfig | None = None,
    outbox_wakeup: Callable[[], None] | None = None,
    limiter: RateLimiter | None = None,
) -> Deps:
    """Services wired to in-memory fakes and the real (pure) template renderer.
    Limits are off unless a test passes a limiter: the unit tests check rules that are
    not limits (the limits have their own tests on the real limiter)."""
    return Deps(
        uow=uow or FakeUnitOfWorkFactory(),
        clock=clock or FakeClock(),
        passwords=passwords or FakePasswords(),
        codes=CodeHasher(CODE_SECRET),
        renderer=JinjaRenderer(),
        limiter=limiter or NoLimits(),
        config=config or ServiceConfig(),
        outbox_wakeup=outbox_wakeup or Wakeups(),
    )


# -- reading the fake outbox --------------------------------------------------------------

# Email: "Your code is: 123456"; SMS: the WebOTP line "@<domain> #123456".
_CODE_PATTERN = re.compile(r"(?:Your code is: |#)([0-9A-Z]{4,10})\b")


def messages_to(store: FakeStore, destination: str, template: str | None = None) -> list[str]:
    """The templates (or, with ``template``, the bodies) of messages sent to a destination."""
    found = [message for message in store.messages() if message.destination == destination]
    if template is None:
        return [message.template for message in found]
    return [message.body for message in found if message.template == template]


def latest_code(store: FakeStore, destination: str) -> str:
    """The code in the newest code message queued for ``destination``."""
    for message in reversed(store.messages()):
        if message.destination == destination and message.carries_secret:
            match = _CODE_PATTERN.search(message.body)
            assert match, f"no code in message body: {message.body!r}"
            return match.group(1)
    raise AssertionError(f"no code message was queued for {destination}")


def wrong_code(code: str) -> str:
    """A code of the same shape that is certainly not ``code``."""
    return "".join(str((int(digit) + 1) % 10) for digit in code)


# -- scenario helpers ---------------------------------------------------------------------

GOOD_PASSWORD = "correct horse battery staple"


def store_of(deps: Deps) -> FakeStore:
    assert isinstance(deps.uow, FakeUnitOfWorkFactory)
    return deps.uow.store


async def create_account(
    deps: Deps, sign_in_name: str, password: str = GOOD_PASSWORD
) -> tuple[NewSession, SecurityInfo]:
    """Sign up and confirm with the code from the outbox: a signed-in, active account."""
    started = await accounts.sign_up(deps, sign_in_name, password, RequestContext())
    verification = store_of(deps).verifications[started.verification_id]
    code = latest_code(store_of(deps), verification.destination)
    new_session = await accounts.confirm_sign_up(
        deps, started.verification_id, code, RequestContext()
    )
    item = next(
        item
        for item in store_of(deps).security_info.values()
        if item.account_id == new_session.session.account_id
    )
    return new_session, copy.deepcopy(item)


async def step_up(deps: Deps, session: Session, item_id: str) -> datetime:
    """Do a step-up with a code sent to ``item_id``; ``session`` becomes privileged."""
    verification = await step_up_service.start(deps, session, item_id, client_ip=None)
    code = latest_code(store_of(deps), verification.destination)
    return await step_up_service.check(deps, session, verification.id, code, RequestContext())


def on_device(context: RequestContext, new_session: NewSession) -> RequestContext:
    """The same request context from the device that opened ``new_session``."""
    assert new_session.device_token, "that session did not come with a new device token"
    return replace(context, device_token=new_session.device_token)


async def sign_in(
    deps: Deps,
    sign_in_name: str,
    password: str = GOOD_PASSWORD,
    context: RequestContext | None = None,
) -> NewSession:
    """Sign in where no code is asked for: fails the test if a challenge comes back."""
    result = await signin.sign_in(deps, sign_in_name, password, context or RequestContext())
    assert result.challenge is None, f"unexpected challenge: {result.challenge.challenge.reason}"
    assert result.session is not None
    return result.session
