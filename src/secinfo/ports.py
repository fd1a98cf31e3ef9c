"""The Protocols the services need. Adapters implement them; tests plug in fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from secinfo.domain.contacts import Channel
from secinfo.domain.model import (
    Account,
    ActivityEvent,
    ApiKey,
    MessageStatus,
    OutgoingMessage,
    SecurityInfo,
    Session,
)
from secinfo.domain.verification import Verification


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def burn(self) -> None:
        """Do the work of one verify against nothing: equal timing for unknown accounts."""
        ...


class AccountRepository(Protocol):
    async def add(self, account: Account) -> None: ...
    async def get(self, account_id: str) -> Account | None: ...
    async def update(self, account: Account) -> None: ...
    async def delete(self, account_id: str) -> None: ...


class SecurityInfoRepository(Protocol):
    async def add(self, item: SecurityInfo) -> None: ...
    async def get(self, item_id: str) -> SecurityInfo | None: ...
    async def update(self, item: SecurityInfo) -> None: ...
    async def list_for_account(self, account_id: str) -> list[SecurityInfo]:
        """Every item not yet removed, oldest first."""
        ...

    async def find_sign_in_name(self, value: str) -> SecurityInfo | None:
        """The active item switched on as a sign-in name with this exact value."""
        ...


class VerificationRepository(Protocol):
    async def add(self, verification: Verification) -> None: ...
    async def get(self, verification_id: str) -> Verification | None: ...
    async def get_for_update(self, verification_id: str) -> Verification | None:
        """Read with a row lock (where the database has them) before a check or send."""
        ...

    async def update(self, verification: Verification) -> None: ...
    async def find_pending_for_api_key(
        self, api_key_id: str, channel: Channel, destination: str, now: datetime
    ) -> Verification | None: ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...
    async def get_by_token_hash(self, token_hash: str) -> Session | None: ...
    async def update(self, session: Session) -> None: ...
    async def revoke_all(
        self, account_id: str, now: datetime, keep_session_id: str | None = None
    ) -> int: ...


class ApiKeyRepository(Protocol):
    async def add(self, api_key: ApiKey) -> None: ...
    async def get_by_hash(self, key_hash: str) -> ApiKey | None: ...
    async def list(self) -> list[ApiKey]: ...
    async def get(self, api_key_id: str) -> ApiKey | None: ...
    async def update(self, api_key: ApiKey) -> None: ...


class Outbox(Protocol):
    async def add(self, message: OutgoingMessage) -> None: ...
    async def latest_status_for_verification(
        self, verification_id: str
    ) -> MessageStatus | None: ...


class ActivityLog(Protocol):
    async def add(self, event: ActivityEvent) -> None: ...
    async def list_for_account(
        self, account_id: str, limit: int, before: str | None = None
    ) -> list[ActivityEvent]:
        """Newest first; ``before`` is the id of the last event of the previous page."""
        ...


class UnitOfWork(Protocol):
    """One database transaction. Leaving the block without ``commit()`` rolls back."""

    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def security_info(self) -> SecurityInfoRepository: ...
    @property
    def verifications(self) -> VerificationRepository: ...
    @property
    def sessions(self) -> SessionRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def activity(self) -> ActivityLog: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str | None = None


class MessageRenderer(Protocol):
    def render(
        self, template: str, channel: Channel, locale: str, context: dict[str, object]
    ) -> RenderedMessage: ...


class DeliveryError(Exception):
    """A send failed. ``permanent`` failures are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class MessageSender(Protocol):
    async def send(self, message: OutgoingMessage) -> str:
        """Deliver the message; return the provider's message id or raise DeliveryError."""
        ...


class OutboxQueue(Protocol):
    """The delivery side of the outbox, used by workers."""

    async def claim_due(
        self, now: datetime, limit: int, lease_seconds: float, worker_id: str
    ) -> list[OutgoingMessage]: ...
    async def mark_sent(
        self,
        message_id: str,
        now: datetime,
        provider_message_id: str,
        *,
        started_at: datetime | None = None,
    ) -> None:
        """Final: record the attempt, end the lease, wipe a body that carried a code."""
        ...

    async def mark_failed(
        self,
        message_id: str,
        now: datetime,
        error: str,
        retry_at: datetime | None,
        *,
        started_at: datetime | None = None,
    ) -> None:
        """Record the failed attempt; retry at ``retry_at``, or ``dead`` when it is None."""
        ...

    async def mark_expired(self, message_id: str, now: datetime) -> None: ...
    async def release(self, message_ids: list[str], now: datetime) -> None:
        """Give back claimed messages that were not attempted (a worker stopping)."""
        ...
