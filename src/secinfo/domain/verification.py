"""The verification state machine: sends, checks, expiry and cancel.

Pure: every method takes ``now`` and returns what happened; storage is elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from secinfo.domain.codes import CodeHasher
from secinfo.domain.contacts import Channel
from secinfo.domain.errors import (
    MaxAttemptsReached,
    MaxSendAttemptsReached,
    ResendCooldown,
    VerificationExpired,
    VerificationNotPending,
)


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXPIRED = "expired"
    CANCELED = "canceled"
    MAX_ATTEMPTS_REACHED = "max_attempts_reached"
    FAILED = "failed"


class Purpose(StrEnum):
    SIGN_UP = "sign_up"
    ADD_INFO = "add_info"
    SIGN_IN = "sign_in"
    STEP_UP = "step_up"
    RECOVERY = "recovery"
    RECONFIRM = "reconfirm"
    REPLACE_INFO = "replace_info"
    CANCEL_CHANGE = "cancel_change"
    INTEGRATOR = "integrator"


@dataclass(frozen=True)
class CodePolicy:
    length: int = 6
    alphanumeric: bool = False
    ttl: timedelta = timedelta(minutes=10)
    max_checks: int = 5
    max_sends: int = 5
    resend_cooldown: timedelta = timedelta(seconds=30)


@dataclass(frozen=True)
class SentCode:
    code_hash: str
    sent_at: datetime


@dataclass
class Verification:
    id: str
    purpose: Purpose
    channel: Channel
    destination: str
    created_at: datetime
    expires_at: datetime
    status: Status = Status.PENDING
    account_id: str | None = None
    api_key_id: str | None = None
    subject_id: str | None = None
    session_id: str | None = None
    check_attempts: int = 0
    send_attempts: int = 0
    last_sent_at: datetime | None = None
    approved_at: datetime | None = None
    codes: list[SentCode] = field(default_factory=list)
    locale: str = "en"

    # -- reading ------------------------------------------------------------------------
    def current_status(self, now: datetime) -> Status:
        """The status as of ``now``: a pending verification past its expiry is expired."""
        if self.status is Status.PENDING and now >= self.expires_at:
            return Status.EXPIRED
        return self.status

    def attempts_left(self, policy: CodePolicy) -> int:
        return max(policy.max_checks - self.check_attempts, 0)

    def resend_available_at(self, policy: CodePolicy) -> datetime | None:
        if self.last_sent_at is None:
            return None
        return self.last_sent_at + policy.resend_cooldown

    # -- changing -----------------------------------------------------------------------
    def expire_if_due(self, now: datetime) -> bool:
        """Mark a pending verification past its expiry expired: True when it was due."""
        if self.status is Status.PENDING and now >= self.expires_at:
            self.status = Status.EXPIRED
            return True
        return False

    def _require_pending(self, now: datetime) -> None:
        status = self.current_status(now)
        if status is Status.PENDING:
            return
        if status is Status.EXPIRED:
            self.status = Status.EXPIRED
            raise VerificationExpired()
        if status is Status.MAX_ATTEMPTS_REACHED:
            raise MaxAttemptsReached()
        raise VerificationNotPending(
            f"This verification is {status.value}; start a new one.", status=status.value
        )

    def record_send(self, code_hash: str, now: datetime, policy: CodePolicy) -> None:
        """Add a freshly generated code. Earlier codes stay valid until they expire."""
        self._require_pending(now)
        if self.send_attempts >= policy.max_sends:
            raise MaxSendAttemptsReached()
        available_at = self.resend_available_at(policy)
        if available_at is not None and now < available_at:
            raise ResendCooldown(
                retry_after=max(math.ceil((available_at - now).total_seconds()), 1)
            )
        self.codes.append(SentCode(code_hash, now))
        self.send_attempts += 1
        self.last_sent_at = now
        self.expires_at = now + policy.ttl

    def check(self, code: str, now: datetime, policy: CodePolicy, hasher: CodeHasher) -> bool:
        """Check a typed code; True approves the verification.

        Every code is compared (no early exit) so timing does not tell which one
        matched. A wrong code counts against the verification and never resets.
        """
        self._require_pending(now)
        matched = False
        for sent in self.codes:
            still_valid = now < sent.sent_at + policy.ttl
            if hasher.matches(self.id, code, sent.code_hash) and still_valid:
                matched = True
        if matched:
            self.status = Status.APPROVED
            self.approved_at = now
            return True
        self.check_attempts += 1
        if self.check_attempts >= policy.max_checks:
            self.status = Status.MAX_ATTEMPTS_REACHED
        return False

    def cancel(self, now: datetime) -> None:
        self._require_pending(now)
        self.status = Status.CANCELED

    def approve(self, now: datetime) -> None:
        """Approved without a code: the owner proved the person some other way."""
        self._require_pending(now)
        self.status = Status.APPROVED
        self.approved_at = now
