"""The records secinfo keeps. Plain dataclasses; rules live beside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from secinfo.domain.contacts import Channel, mask, normalize_contact
from secinfo.domain.errors import InvalidInput


class AccountStatus(StrEnum):
    PENDING = "pending"  # sign-in name not verified yet
    ACTIVE = "active"
    DISABLED = "disabled"
    CLOSED = "closed"  # the holder closed it: erased after the grace period
    ERASED = "erased"  # personal data erased; kept only as an anonymous record


class InfoKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    AUTHENTICATOR = "authenticator"
    RECOVERY_CODE = "recovery_code"
    PASSKEY = "passkey"

    @property
    def channel(self) -> Channel | None:
        """The channel a code for this kind travels on; None when it receives none."""
        return {InfoKind.EMAIL: Channel.EMAIL, InfoKind.PHONE: Channel.SMS}.get(self)

    @property
    def holds_secret(self) -> bool:
        """An authenticator or a recovery code: proved by a code the holder has, not
        one that is sent."""
        return self in (InfoKind.AUTHENTICATOR, InfoKind.RECOVERY_CODE)

    @property
    def signs(self) -> bool:
        """A passkey: proved by a signature of the authenticator, no code at all."""
        return self is InfoKind.PASSKEY

    @property
    def noun(self) -> str:
        return {
            InfoKind.EMAIL: "email",
            InfoKind.PHONE: "phone",
            InfoKind.AUTHENTICATOR: "authenticator app",
            InfoKind.RECOVERY_CODE: "recovery code",
            InfoKind.PASSKEY: "passkey",
        }[self]

    @classmethod
    def for_channel(cls, channel: Channel) -> InfoKind:
        return cls.EMAIL if channel is Channel.EMAIL else cls.PHONE


def contact_for(kind: InfoKind, value: str) -> tuple[Channel, str]:
    """The channel and normalised value of a contact to add; only emails and phones
    receive codes, so only they can be added with one."""
    channel = kind.channel
    if channel is None:
        raise InvalidInput(
            "Only an email address or a phone number can be added with a code "
            "(kind 'email' or 'phone')."
        )
    return normalize_contact(value, channel)


class InfoState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REMOVAL_PENDING = "removal_pending"
    REMOVED = "removed"
    # A passkey whose signature counter went backwards (a cloned authenticator?): it
    # proves nothing until it is removed and registered again.
    SUSPECT = "suspect"


@dataclass
class Account:
    id: str
    password_hash: str
    status: AccountStatus
    created_at: datetime
    locale: str = "en"
    last_sign_in_at: datetime | None = None
    password_changed_at: datetime | None = None
    two_step_enabled: bool = False
    # "This wasn't me": the next sign-in must go through recovery.
    password_reset_required: bool = False
    reconfirm_prompted_at: datetime | None = None
    reconfirm_skipped_until: datetime | None = None
    # The WebAuthn user handle (base64url of 32 random bytes), given at the first passkey:
    # random per account, never its id or a sign-in name.
    passkey_user_handle: str | None = None
    closed_at: datetime | None = None
    erase_at: datetime | None = None  # when a closed account's personal data goes
    erased_at: datetime | None = None
    # Locked by an operator: no sign-in of any kind until unlocked. Written only by the
    # repository's conditional ``lock`` and ``unlock``, never by a plain update, so a
    # sign-in holding an older copy of the account cannot undo a lock.
    locked_at: datetime | None = None
    locked_reason: str | None = None  # the operator's note; never sent to the holder
    locked_by: str | None = None  # the operator's name (an admin key's, or masked)

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


MAX_LABEL_LENGTH = 64
MAX_LOCK_REASON_LENGTH = 500


def clean_lock_reason(reason: str | None) -> str | None:
    """An operator's reason for a lock, whitespace collapsed; empty means none."""
    if reason is None:
        return None
    reason = " ".join(reason.split())
    if len(reason) > MAX_LOCK_REASON_LENGTH:
        raise InvalidInput(f"A lock's reason may have at most {MAX_LOCK_REASON_LENGTH} characters.")
    return reason or None


def clean_label(label: str | None) -> str | None:
    """A label with its whitespace collapsed; empty means none."""
    if label is None:
        return None
    label = " ".join(label.split())
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidInput(f"A label may have at most {MAX_LABEL_LENGTH} characters.")
    return label or None


@dataclass
class SecurityInfo:
    id: str
    account_id: str
    kind: InfoKind
    value: str
    state: InfoState
    added_at: datetime
    label: str | None = None
    sign_in: bool = False
    verified_at: datetime | None = None
    last_used_at: datetime | None = None
    removed_at: datetime | None = None
    # Authenticator: the TOTP secret (sealed at rest); recovery code: its keyed hash.
    # Written when the item is added and changed only through the repository's
    # conditional methods, never by a plain update.
    secret: str | None = field(default=None, repr=False)
    # Must only grow: the last TOTP time step accepted (replays refused), or a passkey's
    # signature counter (a regression marks the passkey suspect).
    last_step: int | None = None
    # Passkey: its credential id and COSE public key (base64url, written once) and the
    # AAGUID of the authenticator model that made it.
    credential_id: str | None = None
    public_key: str | None = field(default=None, repr=False)
    aaguid: str | None = None

    @property
    def channel(self) -> Channel | None:
        return self.kind.channel

    @property
    def can_prove(self) -> bool:
        """Active (or removal waiting) info that can prove it's the holder: a contact
        that receives codes, an authenticator or the recovery code."""
        return self.state in (InfoState.ACTIVE, InfoState.REMOVAL_PENDING) and (
            self.channel is not None or self.kind.holds_secret or self.kind.signs
        )

    @property
    def display_name(self) -> str:
        """How notices and activity name it: a contact masked, the others by label."""
        if self.channel is not None:
            return self.masked
        return self.label or self.kind.noun

    @property
    def can_receive_codes(self) -> bool:
        """Active items, and items whose removal is waiting (they can still cancel it)."""
        return (
            self.state in (InfoState.ACTIVE, InfoState.REMOVAL_PENDING) and self.channel is not None
        )

    @property
    def masked(self) -> str:
        channel = self.channel
        return mask(channel, self.value) if channel is not None else self.kind.noun


@dataclass
class Session:
    id: str
    account_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    privileged_until: datetime | None = None
    revoked_at: datetime | None = None
    ip: str | None = None
    user_agent: str | None = None

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def is_privileged(self, now: datetime) -> bool:
        return self.privileged_until is not None and now < self.privileged_until


class ApiKeyScope(StrEnum):
    """What a key reaches: the Verify API (integrators), or the admin API (operators).
    A key has exactly one scope, so a leaked integrator key cannot administer."""

    VERIFICATION = "verification"
    ADMIN = "admin"


@dataclass
class ApiKey:
    id: str
    name: str
    key_hash: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    scope: ApiKeyScope = ApiKeyScope.VERIFICATION


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    EXPIRED = "expired"


@dataclass
class OutgoingMessage:
    """A rendered message waiting in the outbox. ``body`` may carry a code."""

    id: str
    channel: Channel
    destination: str
    template: str
    locale: str
    subject: str
    body: str
    created_at: datetime
    carries_secret: bool = False
    verification_id: str | None = None
    expires_at: datetime | None = None
    status: MessageStatus = MessageStatus.QUEUED
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    provider_message_id: str | None = None
    sent_at: datetime | None = None


@dataclass
class ActivityEvent:
    id: str
    account_id: str
    type: str
    created_at: datetime
    outcome: str = "success"
    ip: str | None = None
    user_agent: str | None = None
    country: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestContext:
    """Who is asking, from where: recorded on activity events and sessions."""

    ip: str | None = None
    user_agent: str | None = None
    locale: str = "en"
    # The long-lived token of the browser or app, when it has signed in before.
    device_token: str | None = field(default=None, repr=False)


class ChangeKind(StrEnum):
    REMOVE_INFO = "remove_info"  # the last info that can receive codes
    REMOVE_ALL = "remove_all"
    REPLACE_INFO = "replace_info"  # "I don't have any of these"


class ChangeStatus(StrEnum):
    PENDING = "pending"
    CANCELED = "canceled"
    COMPLETED = "completed"


@dataclass
class PendingChange:
    """A security-info change held for the waiting period."""

    id: str
    account_id: str
    kind: ChangeKind
    created_at: datetime
    ends_at: datetime
    next_reminder_at: datetime
    item_ids: list[str] = field(default_factory=list)  # removed when it completes
    new_item_id: str | None = None  # becomes active when it completes
    status: ChangeStatus = ChangeStatus.PENDING
    canceled_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass
class Device:
    """A browser or app that has signed in before, known by a long-lived token."""

    id: str
    account_id: str
    token_hash: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str | None = None


class ChallengeReason(StrEnum):
    UNUSUAL_SIGN_IN = "unusual_sign_in"
    RECENT_FAILURES = "recent_failures"
    LONG_INACTIVITY = "long_inactivity"
    TWO_STEP = "two_step"
    RECONFIRM = "reconfirm_security_info"


@dataclass
class SignInChallenge:
    """A sign-in whose password was right but which needs a code (or a reconfirm)."""

    id: str
    account_id: str
    reason: ChallengeReason
    created_at: datetime
    expires_at: datetime
    ip: str | None = None
    user_agent: str | None = None
    device_id: str | None = None
    skippable: bool = False
    completed_at: datetime | None = None


class PasskeyPurpose(StrEnum):
    REGISTER = "register"
    SIGN_IN = "sign_in"
    STEP_UP = "step_up"
    RECOVERY = "recovery"


@dataclass
class PasskeyChallenge:
    """The options of one WebAuthn ceremony: a random challenge bound to its purpose and
    flow (the session that registers or steps up, the recovery), used once."""

    id: str
    purpose: PasskeyPurpose
    challenge: str  # base64url, 32 random bytes
    created_at: datetime
    expires_at: datetime
    account_id: str | None = None
    flow_id: str | None = None
    used_at: datetime | None = None


@dataclass
class RecoveryContact:
    id: str
    channel: Channel
    masked: str
    item_id: str | None = None  # None for the decoys shown for unknown names


@dataclass
class Recovery:
    """A "forgot password" flow: proofs by codes, then a new password."""

    id: str
    created_at: datetime
    expires_at: datetime
    contacts: list[RecoveryContact]
    account_id: str | None = None
    proofs_needed: int = 1
    proven_item_ids: list[str] = field(default_factory=list)
    completed_at: datetime | None = None

    @property
    def proofs_left(self) -> int:
        return max(self.proofs_needed - len(self.proven_item_ids), 0)


@dataclass
class PrefixBlock:
    """An SMS destination prefix blocked by the pumping guard until ``until``."""

    prefix: str
    country: str
    blocked_at: datetime
    until: datetime
    sends: int
    conversions: int
    lifted_at: datetime | None = None
    id: int | None = None
