"""What every service needs, built once by ``bootstrap`` and passed in."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from secinfo.domain.codes import CodeHasher
from secinfo.domain.data_rights import ErasurePolicy
from secinfo.domain.passkeys import PasskeyPolicy
from secinfo.domain.pumping import PumpingPolicy
from secinfo.domain.rules import ReconfirmPolicy, SignInPolicy, WaitingPeriodPolicy
from secinfo.domain.verification import CodePolicy
from secinfo.domain.webhooks import WebhookPolicy
from secinfo.ports import (
    Clock,
    CountryLookup,
    MessageRenderer,
    PasswordHasher,
    RateLimiter,
    UnitOfWorkFactory,
)
from secinfo.services.enumeration import EnumerationGuard


@dataclass(frozen=True)
class ServiceConfig:
    product_name: str = "secinfo"
    # The origin the WebOTP line binds SMS codes to: "@<domain> #<code>".
    web_domain: str = "localhost"
    session_ttl: timedelta = timedelta(days=30)
    step_up_window: timedelta = timedelta(minutes=10)
    code_policy: CodePolicy = field(default_factory=CodePolicy)
    # Where the holder's pages live: links in notices point here.
    public_url: str = "http://127.0.0.1:8000"
    waiting_period: WaitingPeriodPolicy = field(default_factory=WaitingPeriodPolicy)
    sign_in: SignInPolicy = field(default_factory=SignInPolicy)
    reconfirm: ReconfirmPolicy = field(default_factory=ReconfirmPolicy)
    activity_retention: timedelta = timedelta(days=30)
    recovery_ttl: timedelta = timedelta(minutes=30)
    pumping: PumpingPolicy = field(default_factory=PumpingPolicy)
    webhooks: WebhookPolicy = field(default_factory=WebhookPolicy)
    # The relying-party id is ``web_domain``; the origin is ``public_url``'s.
    passkeys: PasskeyPolicy = field(default_factory=PasskeyPolicy)
    erasure: ErasurePolicy = field(default_factory=ErasurePolicy)


class UnknownCountries:
    """The default IP→country lookup when no database is configured."""

    def country(self, ip: str | None) -> str | None:
        return None


@dataclass
class Deps:
    uow: UnitOfWorkFactory
    clock: Clock
    passwords: PasswordHasher
    codes: CodeHasher
    renderer: MessageRenderer
    # No default: a library user who built Deps without a limiter would have no limits
    # and no SMS-pumping guard. ``bootstrap.build`` passes the configured one (in memory
    # or Redis); tests pass their stand-in explicitly.
    limiter: RateLimiter
    config: ServiceConfig = field(default_factory=ServiceConfig)
    countries: CountryLookup = field(default_factory=UnknownCountries)
    # Called after a commit that queued messages, to wake an in-process delivery loop.
    outbox_wakeup: Callable[[], None] = lambda: None
    # Keeps unknown sign-in names looking like real ones (timing, decoy contacts).
    enumeration: EnumerationGuard = field(default_factory=EnumerationGuard)


def new_id(prefix: str) -> str:
    """Random, URL-safe, 128-bit ids with a readable prefix (``ver_…``)."""
    return f"{prefix}_{secrets.token_hex(16)}"
