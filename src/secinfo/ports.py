"""The Protocols the services need. Adapters implement them; tests plug in fakes."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from secinfo.domain.contacts import Channel
from secinfo.domain.model import (
    Account,
    ActivityEvent,
    ApiKey,
    Device,
    MessageStatus,
    OutgoingMessage,
    PasskeyChallenge,
    PendingChange,
    PrefixBlock,
    Recovery,
    SecurityInfo,
    Session,
    SignInChallenge,
)
from secinfo.domain.verification import Verification
from secinfo.domain.verify_services import (
    Attempt,
    AttemptFilter,
    RateLimitBucket,
    ServiceRateLimit,
    VerifyAccount,
    VerifyService,
)
from secinfo.domain.webhooks import WebhookDelivery, WebhookEndpoint


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class PasswordHasher(Protocol):
    def place(self) -> AbstractContextManager[None]:
        """Hold a place for the hash this request is about to ask for: raises
        ``Overloaded`` at once when it could not start in time, before other work."""
        ...

    def refuse_if_busy(self) -> None:
        """Raise ``Overloaded`` if a hash asked for now could not start in time: a check
        that costs nothing, made before any work (it holds no place)."""
        ...

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the configured ones."""
        ...

    async def burn(self) -> None:
        """Do the work of one verify against nothing: equal timing for unknown accounts."""
        ...


class AccountRepository(Protocol):
    async def add(self, account: Account) -> None: ...
    async def get(self, account_id: str) -> Account | None: ...
    async def update(self, account: Account) -> None: ...
    async def delete(self, account_id: str) -> None: ...
    async def replace_password_hash(self, account_id: str, expected: str, new: str) -> bool:
        """Store ``new`` only if the stored hash is still ``expected`` (a rehash never
        undoes a password change made meanwhile)."""
        ...

    async def lock(self, account_id: str, now: datetime, reason: str | None, by: str) -> bool:
        """Lock the account if it is not locked; False when it was (or does not exist).
        ``update`` never writes the lock, so only this and ``unlock`` change it."""
        ...

    async def unlock(self, account_id: str) -> bool:
        """Unlock the account if it is locked; False when it was not."""
        ...

    async def record_sign_in(self, account_id: str, at: datetime) -> None:
        """Write the time of a sign-in and nothing else: a sign-in holds a copy of the
        account read before its password was checked, and writing that copy back would
        undo a password change (or any setting) committed meanwhile."""
        ...

    async def set_reconfirm(
        self, account_id: str, prompted_at: datetime | None, skipped_until: datetime | None
    ) -> None:
        """Write the reconfirm prompt's two dates (first asked, skipped until), and
        nothing else (as above)."""
        ...


class SecurityInfoRepository(Protocol):
    async def add(self, item: SecurityInfo) -> None: ...
    async def get(self, item_id: str) -> SecurityInfo | None: ...
    async def update(self, item: SecurityInfo) -> None: ...
    async def list_for_account(self, account_id: str) -> list[SecurityInfo]:
        """Every item not yet removed, oldest first."""
        ...

    async def find_sign_in_name(self, value: str) -> SecurityInfo | None:
        """The verified item switched on as a sign-in name with this exact value."""
        ...

    async def list_sign_in_names(self, account_id: str) -> list[SecurityInfo]:
        """Sign-in names, including those no longer used as security info."""
        ...

    async def find_sign_in_account(self, value: str) -> str | None:
        """The account id of ``find_sign_in_name``'s item (the item is not read)."""
        ...

    async def find_passkey(self, credential_id: str) -> SecurityInfo | None:
        """The passkey with this credential id, whatever its state."""
        ...

    async def sample_accounts(self, limit: int) -> list[list[SecurityInfo]]:
        """The items not yet removed of up to ``limit`` active accounts picked at random,
        each account's oldest first (what decoys for unknown names are shaped on)."""
        ...

    async def claim_step(self, item: SecurityInfo, step: int) -> bool:
        """Store ``step`` as the last accepted TOTP step (or passkey signature counter)
        only if it is later than the stored one (a conditional write: concurrent checks
        of one code, one wins)."""
        ...

    async def replace_secret(self, item: SecurityInfo, expected: str | None, new: str) -> bool:
        """Store ``new`` only if the stored secret is still ``expected``."""
        ...


class VerificationRepository(Protocol):
    async def add(self, verification: Verification) -> None: ...
    async def get(self, verification_id: str) -> Verification | None: ...
    async def get_for_update(self, verification_id: str) -> Verification | None:
        """Read with a row lock (where the database has them) before a check or send."""
        ...

    async def update(self, verification: Verification) -> None: ...
    async def pending_for_api_key(
        self, api_key_id: str, channel: Channel, destination: str
    ) -> Verification | None:
        """The one verification with status pending for these, even past its expiry,
        with a row lock (where the database has them): a start resends on it or, when it
        ran out, marks it expired and makes a new one."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...
    async def get(self, session_id: str) -> Session | None: ...
    async def get_by_token_hash(self, token_hash: str) -> Session | None: ...
    async def update(self, session: Session) -> None: ...
    async def revoke_all(
        self, account_id: str, now: datetime, keep_session_id: str | None = None
    ) -> int: ...
    async def count_live(self, account_id: str, now: datetime) -> int:
        """The account's sessions that are neither revoked nor expired at ``now``."""
        ...


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

    async def get(self, event_id: str) -> ActivityEvent | None: ...
    async def count_since(self, account_id: str, type: str, since: datetime) -> int: ...
    async def purge_before(self, cutoff: datetime) -> int: ...


class PendingChangeRepository(Protocol):
    async def add(self, change: PendingChange) -> None: ...
    async def get(self, change_id: str) -> PendingChange | None: ...
    async def pending_for_account(self, account_id: str) -> PendingChange | None: ...
    async def finish(self, change: PendingChange) -> bool:
        """Write a pending change's end (canceled/completed) only if it is still pending.

        Returns False when another process ended it first: the caller must not apply it.
        """
        ...

    async def move_reminder(self, change: PendingChange, previous: datetime) -> bool:
        """Set next_reminder_at if it still equals ``previous`` (one reminder per period)."""
        ...

    async def due(self, now: datetime, limit: int) -> list[PendingChange]: ...
    async def reminders_due(self, now: datetime, limit: int) -> list[PendingChange]: ...


class DeviceRepository(Protocol):
    async def add(self, device: Device) -> None: ...
    async def get_by_token_hash(self, account_id: str, token_hash: str) -> Device | None: ...
    async def update(self, device: Device) -> None: ...


class KnownNetworkRepository(Protocol):
    async def is_known(self, account_id: str, network: str) -> bool: ...
    async def countries(self, account_id: str) -> set[str]: ...
    async def remember(
        self, account_id: str, network: str, country: str | None, now: datetime
    ) -> None: ...


class ChallengeRepository(Protocol):
    async def add(self, challenge: SignInChallenge) -> None: ...
    async def get(self, challenge_id: str) -> SignInChallenge | None: ...
    async def update(self, challenge: SignInChallenge) -> None: ...


class PasskeyChallengeRepository(Protocol):
    async def add(self, challenge: PasskeyChallenge) -> None: ...
    async def get(self, challenge_id: str) -> PasskeyChallenge | None: ...
    async def consume(self, challenge: PasskeyChallenge, now: datetime) -> bool:
        """Mark it used; False when it was used already (a challenge is answered once)."""
        ...

    async def purge_before(self, cutoff: datetime) -> int: ...


class RecoveryRepository(Protocol):
    async def add(self, recovery: Recovery) -> None: ...
    async def get(self, recovery_id: str) -> Recovery | None: ...
    async def update(self, recovery: Recovery) -> None: ...


class PrefixBlockRepository(Protocol):
    async def active(self, prefix: str, now: datetime) -> PrefixBlock | None: ...
    async def add(self, block: PrefixBlock) -> None: ...
    async def list_active(self, now: datetime) -> list[PrefixBlock]: ...
    async def lift(self, prefix: str, now: datetime) -> int: ...


class RateLimiter(Protocol):
    """Named limits (``secinfo.domain.limits``), shared by every process when on Redis."""

    async def hit(self, name: str, key: str) -> None:
        """Count a call; raise TooManyRequests naming the limit when over it."""
        ...

    async def check(self, name: str, key: str) -> None:
        """Raise TooManyRequests if the limit is exhausted, without counting."""
        ...

    async def hit_rates(self, name: str, key: str, rates: str, description: str) -> None:
        """Count a call against ``rates`` (``"5/60 second"``) given by the caller rather
        than the named table (an integrator's own limits); same store, same refusals."""
        ...

    async def clear(self, name: str, key: str) -> None: ...
    async def incr(self, key: str, expiry_seconds: int) -> int: ...
    async def get(self, key: str) -> int: ...


class VerifyServiceRepository(Protocol):
    """The Twilio-compatible front end's credentials, services and rate limits.

    Every read of a service, rate limit or bucket is scoped to one account sid: another
    account's sid reads as not found.
    """

    async def add_account(self, account: VerifyAccount) -> None: ...
    async def account_by_hash(self, token_hash: str) -> VerifyAccount | None: ...
    async def get_account(self, sid: str) -> VerifyAccount | None: ...
    async def list_accounts(self) -> list[VerifyAccount]: ...
    async def update_account(self, account: VerifyAccount) -> None: ...

    async def add_service(self, service: VerifyService) -> None: ...
    async def get_service(self, account_sid: str, sid: str) -> VerifyService | None: ...
    async def update_service(self, service: VerifyService) -> None: ...
    async def delete_service(self, account_sid: str, sid: str) -> bool: ...
    async def list_services(self, account_sid: str, limit: int, offset: int) -> list[VerifyService]:
        """Oldest first."""
        ...

    async def add_rate_limit(self, rate_limit: ServiceRateLimit) -> None: ...
    async def get_rate_limit(
        self, account_sid: str, service_sid: str, sid: str
    ) -> ServiceRateLimit | None: ...
    async def rate_limits_named(
        self, service_sid: str, unique_names: list[str]
    ) -> list[ServiceRateLimit]: ...
    async def update_rate_limit(self, rate_limit: ServiceRateLimit) -> None: ...
    async def delete_rate_limit(self, rate_limit: ServiceRateLimit) -> None: ...
    async def list_rate_limits(
        self, service_sid: str, limit: int, offset: int
    ) -> list[ServiceRateLimit]: ...
    async def count_rate_limits(self, service_sid: str) -> int: ...

    async def add_bucket(self, bucket: RateLimitBucket) -> None: ...
    async def get_bucket(self, rate_limit_sid: str, sid: str) -> RateLimitBucket | None: ...
    async def update_bucket(self, bucket: RateLimitBucket) -> None: ...
    async def delete_bucket(self, bucket: RateLimitBucket) -> None: ...
    async def list_buckets(
        self, rate_limit_sids: list[str], limit: int, offset: int
    ) -> list[RateLimitBucket]: ...

    async def attempts(self, query: AttemptFilter, limit: int, offset: int) -> list[Attempt]:
        """Codes sent for the account's services' verifications, newest first."""
        ...

    async def attempt_totals(self, query: AttemptFilter) -> tuple[int, int]:
        """(attempts, attempts of verifications that were approved)."""
        ...


class BillingRepository(Protocol):
    async def get(self, account_id: str) -> tuple[dict[str, object], datetime] | None: ...
    async def put(self, account_id: str, profile: dict[str, object], now: datetime) -> None: ...


class WebhookEndpointRepository(Protocol):
    """Webhook endpoints (secrets sealed at rest), and their deliveries: the outbox
    messages whose destination is the endpoint."""

    async def add(self, endpoint: WebhookEndpoint) -> None: ...
    async def get(self, endpoint_id: str) -> WebhookEndpoint | None: ...
    async def list_all(self) -> list[WebhookEndpoint]: ...
    async def list_enabled(self) -> list[WebhookEndpoint]: ...
    async def update(self, endpoint: WebhookEndpoint) -> None: ...
    async def delete(self, endpoint_id: str) -> None: ...
    async def deliveries(
        self, endpoint_id: str, limit: int, status: str | None = None
    ) -> list[WebhookDelivery]:
        """Newest first, each with its attempts."""
        ...

    async def requeue(self, endpoint_id: str, delivery_id: str, now: datetime) -> str | None:
        """Queue a dead or failed delivery again now with a fresh attempt budget; return
        its status before (None: no such delivery; unchanged unless dead or failed)."""
        ...


@dataclass(frozen=True)
class OperatorRecord:
    """An account that may use the operator pages, and since when."""

    account_id: str
    created_at: datetime


class OperatorRepository(Protocol):
    async def add(self, account_id: str, now: datetime) -> bool:
        """Make the account an operator; False when it is one already."""
        ...

    async def remove(self, account_id: str) -> bool:
        """False when the account was not an operator."""
        ...

    async def get(self, account_id: str) -> OperatorRecord | None: ...
    async def list(self) -> list[OperatorRecord]:
        """Oldest first."""
        ...


@dataclass(frozen=True)
class MessageSummary:
    """An outbox message as operators see it: everything but its body (only whether
    the body is sealed, wiped, empty or plain)."""

    id: str
    channel: str
    destination: str  # masked (contacts are sealed, and wiped after delivery); a webhook's id
    template: str
    locale: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    provider_message_id: str | None
    verification_id: str | None
    carries_secret: bool
    worker_id: str | None
    lease_until: datetime | None
    expires_at: datetime | None
    subject: str
    body_state: str


NO_SUCH_MESSAGE = "no such message"  # RetryResult.refused's reason for an unknown id


@dataclass(frozen=True)
class RetryResult:
    requeued: list[str]
    refused: dict[str, str]  # message id -> why not


class OutboxLog(Protocol):
    """Operators' view of the outbox, in the unit of work's transaction."""

    async def list_messages(
        self, *, status: str | None = None, channel: str | None = None, limit: int = 50
    ) -> list[MessageSummary]:
        """Newest first."""
        ...

    async def counts(self) -> dict[str, int]:
        """How many messages are in each status."""
        ...

    async def retry(self, message_ids: list[str], now: datetime) -> RetryResult:
        """Queue dead or failed messages again now, with a fresh attempt budget; a
        message whose code was wiped cannot be sent again."""
        ...


@dataclass(frozen=True)
class MessageRecord:
    """A message sent (or queued) to the person, as an export shows it: never its body."""

    id: str
    channel: str
    template: str
    status: str
    destination: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int


@dataclass(frozen=True)
class NetworkRecord:
    network: str
    country: str | None
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass
class HeldData:
    """Every record held about one account (secrets are left out by the store)."""

    account: Account
    items: list[SecurityInfo]  # removed ones too
    sessions: list[Session]
    devices: list[Device]
    networks: list[NetworkRecord]
    challenges: list[SignInChallenge]
    verifications: list[Verification]
    pending_changes: list[PendingChange]
    activity: list[ActivityEvent]  # oldest first
    messages: list[MessageRecord]  # oldest first
    billing: dict[str, object] | None
    recoveries: list[Recovery]
    operator_since: datetime | None = None  # may use the operator pages since


@dataclass(frozen=True)
class ErasurePlan:
    """What erasing one account writes: each contact spelling and its keyed hash, and
    which of them no other account holds (messages and verifications to those go)."""

    account_id: str
    replacements: dict[str, str]
    unshared: frozenset[str]
    now: datetime


class PersonalDataStore(Protocol):
    async def held(self, account_id: str) -> HeldData | None:
        """Everything about the account; messages and verifications matched by account
        and by every spelling of its contact values."""
        ...

    async def held_by_others(self, account_id: str, values: set[str]) -> set[str]:
        """Which of ``values`` (any spelling) another, not erased, account holds."""
        ...

    async def claim_erasure(self, account_id: str, now: datetime, *, due_only: bool) -> bool:
        """Mark the account erased if it is not yet (``due_only``: only a closed account
        whose grace period has ended). A conditional write: of two erasures, or an
        erasure and a sign-in that cancels the closure, one wins."""
        ...

    async def reopen(self, account_id: str) -> bool:
        """Cancel a closure: only if the account is still closed (not being erased)."""
        ...

    async def erase(self, plan: ErasurePlan) -> dict[str, int]:
        """Erase the claimed account's personal data; rows touched per table. Running it
        again changes nothing more."""
        ...

    async def closed_due(self, now: datetime, limit: int) -> list[str]:
        """Ids of closed accounts whose grace period has ended."""
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
    @property
    def pending_changes(self) -> PendingChangeRepository: ...
    @property
    def devices(self) -> DeviceRepository: ...
    @property
    def known_networks(self) -> KnownNetworkRepository: ...
    @property
    def challenges(self) -> ChallengeRepository: ...
    @property
    def recoveries(self) -> RecoveryRepository: ...
    @property
    def passkey_challenges(self) -> PasskeyChallengeRepository: ...
    @property
    def billing(self) -> BillingRepository: ...
    @property
    def prefix_blocks(self) -> PrefixBlockRepository: ...
    @property
    def webhooks(self) -> WebhookEndpointRepository: ...
    @property
    def verify_services(self) -> VerifyServiceRepository: ...
    @property
    def personal_data(self) -> PersonalDataStore: ...
    @property
    def operators(self) -> OperatorRepository: ...
    @property
    def outbox_log(self) -> OutboxLog: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...

    async def relax_durability(self) -> None:
        """Let this transaction's commit return before it reaches disk (PostgreSQL's
        synchronous_commit off): for records whose loss in a crash is harmless."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class CountryLookup(Protocol):
    def country(self, ip: str | None) -> str | None:
        """ISO 3166 alpha-2 code for an IP address, or None when unknown."""
        ...


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


@dataclass(frozen=True)
class Holder:
    """Who holds a claimed message: the worker and the attempt its claim started. An
    outcome is recorded only while that claim still holds the message, so a send that
    outlived its lease (another worker took the message over) is not recorded twice."""

    worker_id: str
    attempt: int


@dataclass(frozen=True)
class SentOutcome:
    """A send that succeeded, waiting to be recorded with others in one write."""

    message_id: str
    provider_message_id: str
    started_at: datetime
    finished_at: datetime
    holder: Holder


class OutboxQueue(Protocol):
    """The delivery side of the outbox, used by workers."""

    async def claim_due(
        self, now: datetime, limit: int, lease_seconds: float, worker_id: str
    ) -> list[OutgoingMessage]: ...
    async def listen(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever messages are queued, until cancelled; return at once
        where the store cannot tell (workers then poll)."""
        ...

    async def extend_leases(
        self, message_ids: list[str], worker_id: str, lease_until: datetime
    ) -> int:
        """The heartbeat: renew the lease of those messages that ``worker_id`` still
        holds (still ``sending``); return how many were renewed."""
        ...

    async def mark_sent(
        self,
        message_id: str,
        now: datetime,
        provider_message_id: str,
        *,
        started_at: datetime | None = None,
        holder: Holder | None = None,
    ) -> None:
        """Final: record the attempt, end the lease, wipe a body that carried a code."""
        ...

    async def mark_sent_many(self, outcomes: list[SentOutcome]) -> set[str]:
        """``mark_sent`` for many messages in one transaction (one statement for the rows,
        one for their attempts); return the ids recorded (those their holder still held)."""
        ...

    async def mark_failed(
        self,
        message_id: str,
        now: datetime,
        error: str,
        retry_at: datetime | None,
        *,
        started_at: datetime | None = None,
        holder: Holder | None = None,
    ) -> None:
        """Record the failed attempt; retry at ``retry_at``, or ``dead`` when it is None."""
        ...

    async def mark_expired(
        self, message_id: str, now: datetime, *, holder: Holder | None = None
    ) -> None: ...
    async def release(
        self, message_ids: list[str], now: datetime, *, worker_id: str | None = None
    ) -> None:
        """Give back claimed messages that were not attempted (a worker stopping)."""
        ...
