"""The records secinfo keeps (§2). Plain dataclasses; rules live beside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from secinfo.domain.contacts import Channel, mask


class AccountStatus(StrEnum):
    PENDING = "pending"  # sign-in name not verified yet
    ACTIVE = "active"
    DISABLED = "disabled"


class InfoKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    AUTHENTICATOR = "authenticator"
    RECOVERY_CODE = "recovery_code"

    @property
    def channel(self) -> Channel | None:
        """The channel a code for this kind travels on; None when it receives none."""
        return {InfoKind.EMAIL: Channel.EMAIL, InfoKind.PHONE: Channel.SMS}.get(self)

    @classmethod
    def for_channel(cls, channel: Channel) -> InfoKind:
        return cls.EMAIL if channel is Channel.EMAIL else cls.PHONE


class InfoState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REMOVAL_PENDING = "removal_pending"
    REMOVED = "removed"


@dataclass
class Account:
    id: str
    password_hash: str
    status: AccountStatus
    created_at: datetime
    locale: str = "en"
    last_sign_in_at: datetime | None = None
    password_changed_at: datetime | None = None


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

    @property
    def channel(self) -> Channel | None:
        return self.kind.channel

    @property
    def can_receive_codes(self) -> bool:
        return self.state is InfoState.ACTIVE and self.channel is not None

    @property
    def masked(self) -> str:
        channel = self.channel
        return mask(channel, self.value) if channel is not None else self.kind.value


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


@dataclass
class ApiKey:
    id: str
    name: str
    key_hash: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


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
