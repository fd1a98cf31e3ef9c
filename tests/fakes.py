"""In-memory fakes of every port the services use (cosmicpython's FakeUnitOfWork idea).

A :class:`FakeStore` holds what has been committed. Each :class:`FakeUnitOfWork` reads
through to it but keeps its own writes apart until ``commit()``; leaving the block
without committing throws them away. Objects are deep-copied on the way in and out, so
a service mutating what it read changes nothing until it calls ``update`` and commits.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Generic, Self, TypeVar

from secinfo.adapters.delivery.templates import JinjaRenderer
from secinfo.domain.codes import CodeHasher
from secinfo.domain.contacts import Channel
from secinfo.domain.model import (
    Account,
    ActivityEvent,
    ApiKey,
    InfoState,
    MessageStatus,
    OutgoingMessage,
    RequestContext,
    SecurityInfo,
    Session,
)
from secinfo.domain.verification import Status, Verification
from secinfo.services import accounts
from secinfo.services import step_up as step_up_service
from secinfo.services.accounts import NewSession
from secinfo.services.deps import Deps, ServiceConfig

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
    """A cheap, deterministic stand-in for argon2id that counts its calls."""

    PREFIX = "fake$"

    def __init__(self) -> None:
        self.hashes = 0
        self.verifies = 0
        self.burns = 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return self.PREFIX + password

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifies += 1
        return password_hash == self.PREFIX + password

    async def burn(self) -> None:
        self.burns += 1


# -- storage ------------------------------------------------------------------------------


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
    commits: int = 0

    def messages(self) -> list[OutgoingMessage]:
        """Every committed message, in the order it was queued."""
        return [copy.deepcopy(message) for message in self.outbox.values()]

    def events(self, account_id: str | None = None) -> list[ActivityEvent]:
        return [
            copy.deepcopy(event)
            for event in self.activity.values()
            if account_id is None or event.account_id == account_id
        ]


class _Table(Generic[T]):
    """One table as one unit of work sees it: the committed rows plus its own writes."""

    def __init__(self, committed: dict[str, T]) -> None:
        self.committed = committed
        self.changes: dict[str, object] = {}

    def get(self, key: str) -> T | None:
        if key in self.changes:
            row = self.changes[key]
            return None if row is _DELETED else copy.deepcopy(row)  # type: ignore[return-value]
        row_ = self.committed.get(key)
        return copy.deepcopy(row_) if row_ is not None else None

    def put(self, key: str, row: T) -> None:
        self.changes[key] = copy.deepcopy(row)

    def insert(self, key: str, row: T) -> None:
        if self.get(key) is not None:
            raise AssertionError(f"duplicate primary key {key!r}")
        self.put(key, row)

    def require(self, key: str) -> None:
        if self.get(key) is None:
            raise AssertionError(f"update of a row that does not exist: {key!r}")

    def delete(self, key: str) -> None:
        self.changes[key] = _DELETED

    def rows(self) -> Iterator[T]:
        """Every visible row (copies), committed order first, then new ones."""
        for key in [*self.committed, *(k for k in self.changes if k not in self.committed)]:
            row = self.get(key)
            if row is not None:
                yield row

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
        self.table.put(account.id, account)

    async def delete(self, account_id: str) -> None:
        self.table.delete(account_id)


class FakeSecurityInfo:
    def __init__(self, table: _Table[SecurityInfo]) -> None:
        self.table = table

    async def add(self, item: SecurityInfo) -> None:
        self.table.insert(item.id, item)

    async def get(self, item_id: str) -> SecurityInfo | None:
        return self.table.get(item_id)

    async def update(self, item: SecurityInfo) -> None:
        self.table.require(item.id)
        self.table.put(item.id, item)

    async def list_for_account(self, account_id: str) -> list[SecurityInfo]:
        items = [
            item
            for item in self.table.rows()
            if item.account_id == account_id and item.state is not InfoState.REMOVED
        ]
        return sorted(items, key=lambda item: (item.added_at, item.id))

    async def find_sign_in_name(self, value: str) -> SecurityInfo | None:
        for item in self.table.rows():
            if item.value == value and item.sign_in and item.state is InfoState.ACTIVE:
                return item
        return None


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

    async def find_pending_for_api_key(
        self, api_key_id: str, channel: Channel, destination: str, now: datetime
    ) -> Verification | None:
        matches = [
            verification
            for verification in self.table.rows()
            if verification.api_key_id == api_key_id
            and verification.channel is channel
            and verification.destination == destination
            and verification.status is Status.PENDING
            and verification.expires_at > now
        ]
        return max(matches, key=lambda verification: verification.created_at, default=None)


class FakeSessions:
    def __init__(self, table: _Table[Session]) -> None:
        self.table = table

    async def add(self, session: Session) -> None:
        self.table.insert(session.id, session)

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
        self, account_id: str, limit: int, before: datetime | None = None
    ) -> list[ActivityEvent]:
        events = [
            event
            for event in self.table.rows()
            if event.account_id == account_id and (before is None or event.created_at < before)
        ]
        events.sort(key=lambda event: (event.created_at, event.id), reverse=True)
        return events[:limit]


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.committed = False
        self._tables: list[_Table[object]] = []
        self._open = False

    def _table(self, committed: dict[str, T]) -> _Table[T]:
        table = _Table(committed)
        self._tables.append(table)  # type: ignore[arg-type]
        return table

    async def __aenter__(self) -> Self:
        assert not self._open, "a unit of work is entered once"
        self._open = True
        store = self.store
        self.accounts = FakeAccounts(self._table(store.accounts))
        self.security_info = FakeSecurityInfo(self._table(store.security_info))
        self.verifications = FakeVerifications(self._table(store.verifications))
        self.sessions = FakeSessions(self._table(store.sessions))
        self.api_keys = FakeApiKeys(self._table(store.api_keys))
        self.outbox = FakeOutbox(self._table(store.outbox))
        self.activity = FakeActivity(self._table(store.activity))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for table in self._tables:  # rollback: whatever was not committed is dropped
            table.changes.clear()
        self._open = False

    async def commit(self) -> None:
        assert self._open, "commit outside the unit of work"
        for table in self._tables:
            table.apply()
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


def make_deps(
    *,
    uow: FakeUnitOfWorkFactory | None = None,
    clock: FakeClock | None = None,
    passwords: FakePasswords | None = None,
    config: ServiceConfig | None = None,
    outbox_wakeup: Callable[[], None] | None = None,
) -> Deps:
    """Services wired to in-memory fakes and the real (pure) template renderer."""
    return Deps(
        uow=uow or FakeUnitOfWorkFactory(),
        clock=clock or FakeClock(),
        passwords=passwords or FakePasswords(),
        codes=CodeHasher(CODE_SECRET),
        renderer=JinjaRenderer(),
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
    verification = await step_up_service.start(deps, session, item_id)
    code = latest_code(store_of(deps), verification.destination)
    return await step_up_service.check(deps, session, verification.id, code, RequestContext())
