"""Rules with numbers in them: waiting periods, step-up, sign-in risk, reconfirm."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from secinfo.domain.model import ChallengeReason


@dataclass(frozen=True)
class WaitingPeriodPolicy:
    length: timedelta = timedelta(days=30)
    reminder_every: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class SignInPolicy:
    inactivity: timedelta = timedelta(days=90)
    failure_window: timedelta = timedelta(hours=24)
    failures_before_challenge: int = 5
    challenge_ttl: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class ReconfirmPolicy:
    period: timedelta = timedelta(days=365)
    skip_for: timedelta = timedelta(hours=24)
    grace: timedelta = timedelta(days=7)


def network_of(ip: str | None) -> str | None:
    """The network a sign-in comes from: IPv4 /24, IPv6 /48."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(frozen=True)
class SignInFacts:
    """What is known about a sign-in whose password was right."""

    device_known: bool
    network_known: bool
    country_known: bool
    recent_failures: int
    last_sign_in_at: datetime | None
    two_step_enabled: bool


def challenge_reason(
    facts: SignInFacts, now: datetime, policy: SignInPolicy
) -> ChallengeReason | None:
    """Why this sign-in needs a code, or None when the password is enough.

    Unusual means a device not seen before *and* a network or country not seen before:
    a new laptop at home, or the usual phone abroad, is not unusual on its own.
    """
    if facts.two_step_enabled:
        return ChallengeReason.TWO_STEP
    if facts.recent_failures >= policy.failures_before_challenge:
        return ChallengeReason.RECENT_FAILURES
    if facts.last_sign_in_at is not None and now - facts.last_sign_in_at >= policy.inactivity:
        return ChallengeReason.LONG_INACTIVITY
    if not facts.device_known and not (facts.network_known and facts.country_known):
        return ChallengeReason.UNUSUAL_SIGN_IN
    return None


class ReconfirmState(StrEnum):
    NOT_NEEDED = "not_needed"
    SKIPPED = "skipped"  # asked, skipped less than 24 hours ago
    SKIPPABLE = "skippable"
    REQUIRED = "required"  # 7 days after the first prompt: no more skipping


def reconfirm_state(
    last_confirmed_at: datetime | None,
    prompted_at: datetime | None,
    skipped_until: datetime | None,
    now: datetime,
    policy: ReconfirmPolicy,
) -> ReconfirmState:
    """Whether sign-in asks "make sure you can still receive codes"."""
    if last_confirmed_at is not None and now - last_confirmed_at < policy.period:
        return ReconfirmState.NOT_NEEDED
    if prompted_at is not None and now >= prompted_at + policy.grace:
        return ReconfirmState.REQUIRED
    if skipped_until is not None and now < skipped_until:
        return ReconfirmState.SKIPPED
    return ReconfirmState.SKIPPABLE


def enforce_reconfirm_from(prompted_at: datetime, policy: ReconfirmPolicy) -> datetime:
    return prompted_at + policy.grace
