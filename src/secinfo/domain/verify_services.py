"""Verify services for the Twilio-compatible front end: credentials, services, rate limits.

A *service* is what Twilio calls a Verify Service (``VA…``): a named set of settings
(code length, the name in the message) that its verifications follow. Verifications are
the same verifications as the native Verify API's; a service's sid is their owner, as an
API key's id is for the native API, so "one pending verification per owner and ``to``",
the resend and every limit are the ones the native API has.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

# Twilio's sids: two letters and 32 lower-case hex digits.
ACCOUNT_PREFIX = "AC"
SERVICE_PREFIX = "VA"
VERIFICATION_PREFIX = "VE"
RATE_LIMIT_PREFIX = "RK"
BUCKET_PREFIX = "BL"
ATTEMPT_PREFIX = "VL"


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def is_sid(value: str, prefix: str) -> bool:
    body = value[2:]
    return (
        len(value) == 34
        and value.startswith(prefix)
        and all(character in "0123456789abcdefABCDEF" for character in body)
    )


def verification_sid(verification_id: str) -> str:
    """``ver_<32 hex>`` (every verification's id) as Twilio spells it: ``VE<32 hex>``."""
    return VERIFICATION_PREFIX + verification_id.partition("_")[2]


def verification_id(sid: str) -> str | None:
    """The verification id a ``VE…`` sid names, or None for anything else."""
    if not is_sid(sid, VERIFICATION_PREFIX):
        return None
    return "ver_" + sid[2:].lower()


def attempt_sid(message_id: str) -> str:
    """An attempt is one code message: ``msg_<32 hex>`` becomes ``VL<32 hex>``."""
    return ATTEMPT_PREFIX + message_id.partition("_")[2]


def attempt_message_id(sid: str) -> str | None:
    if not is_sid(sid, ATTEMPT_PREFIX):
        return None
    return "msg_" + sid[2:].lower()


@dataclass(frozen=True)
class ServicePolicy:
    """Twilio's limits on a service's settings and its rate limits."""

    min_code_length: int = 4
    max_code_length: int = 10
    default_code_length: int = 6
    max_friendly_name: int = 30
    max_rate_limits: int = 10
    max_buckets: int = 5
    max_unique_name: int = 100
    max_bucket_interval_seconds: int = 86400


SERVICE_POLICY = ServicePolicy()


@dataclass
class VerifyAccount:
    """Twilio-style credentials: an Account SID and an auth token (kept as a hash)."""

    sid: str
    name: str
    token_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass
class VerifyService:
    sid: str
    account_sid: str
    friendly_name: str
    code_length: int
    created_at: datetime
    updated_at: datetime
    lookup_enabled: bool = False
    psd2_enabled: bool = False
    skip_sms_to_landlines: bool = False
    dtmf_input_required: bool = True
    tts_name: str | None = None
    do_not_share_warning_enabled: bool = False
    custom_code_enabled: bool = False
    default_template_sid: str | None = None

    @property
    def id(self) -> str:
        """The owner id its verifications carry (as an API key's id for the native API)."""
        return self.sid


@dataclass
class ServiceRateLimit:
    sid: str
    service_sid: str
    account_sid: str
    unique_name: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None


@dataclass
class RateLimitBucket:
    sid: str
    rate_limit_sid: str
    service_sid: str
    account_sid: str
    max: int
    interval: int
    created_at: datetime
    updated_at: datetime

    @property
    def rates(self) -> str:
        """In the named limits' syntax: ``max`` calls per ``interval`` seconds."""
        return f"{self.max}/{self.interval} second"


@dataclass(frozen=True)
class Attempt:
    """One code sent for a service's verification (an outbox message)."""

    message_id: str
    verification_id: str
    service_sid: str
    channel: str
    destination: str
    created_at: datetime
    updated_at: datetime
    delivery_status: str
    converted: bool


@dataclass(frozen=True)
class AttemptFilter:
    account_sid: str
    created_after: datetime | None = None
    created_before: datetime | None = None
    channel: str | None = None
    calling_code: str | None = None  # "+44": destinations in one country
    service_sid: str | None = None
    verification_id: str | None = None
    message_id: str | None = None
    converted: bool | None = None
