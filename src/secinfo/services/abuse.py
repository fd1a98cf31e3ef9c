"""Abuse resistance around every code: named limits, the SMS-pumping guard, and the
100-consecutive-failures rule (NIST 800-63B §5.2.2).

The client address a limit counts is the end user's, passed in explicitly by each flow:
the request's address for pages and the holder API, the ``client_ip`` the integrator
passes for the Verify API (an integrator's server is not one user), none from the CLI.
"""

from __future__ import annotations

import contextlib

import structlog

from secinfo import metrics
from secinfo.domain.contacts import Channel, contact_key
from secinfo.domain.errors import (
    CountryNotAllowed,
    DestinationNotAllowed,
    PrefixPaused,
    TooManyRequests,
)
from secinfo.domain.limits import client_network
from secinfo.domain.model import PrefixBlock
from secinfo.domain.pumping import (
    NumberFacts,
    country_refused,
    looks_pumped,
    number_facts,
    refusal,
)
from secinfo.domain.verification import Verification
from secinfo.ports import UnitOfWork
from secinfo.services.deps import Deps

log = structlog.get_logger("secinfo.abuse")


async def before_send(
    deps: Deps, uow: UnitOfWork, verification: Verification, client_ip: str | None
) -> NumberFacts | None:
    """Refuse a send over a limit or to a number pumping uses; return the number's facts.

    ``client_ip`` is the end user's address (None when there is none, as from the CLI).
    """
    limiter = deps.limiter
    # One mailbox, one counter: keyed on the folded form, not the spelling typed.
    await limiter.hit("code.send.destination", contact_key(verification.destination))
    if verification.account_id:
        await limiter.hit("code.send.account", verification.account_id)
    network = client_network(client_ip)
    if network:
        await limiter.hit("code.send.ip", network)
    if verification.channel is not Channel.SMS:
        return None
    policy = deps.config.pumping
    facts = number_facts(verification.destination, policy.prefix_digits)
    reason = refusal(facts, policy)
    if reason:
        refused = CountryNotAllowed if country_refused(facts, policy) else DestinationNotAllowed
        raise refused(reason + " Use an email address or another number.")
    block = await uow.prefix_blocks.active(facts.prefix, deps.clock.now())
    if block is not None:
        raise PrefixPaused(
            retry_after=max(int((block.until - deps.clock.now()).total_seconds()), 1),
        )
    await limiter.hit("code.send.country", facts.region)
    return facts


async def after_send(
    deps: Deps, uow: UnitOfWork, verification: Verification, facts: NumberFacts | None
) -> None:
    """Count the send per prefix and block a prefix that looks pumped."""
    country = facts.region if facts else "-"
    metrics.CODES_SENT.labels(channel=verification.channel.value, country=country).inc()
    if facts is None:
        return
    policy = deps.config.pumping
    window = int(policy.window.total_seconds())
    sends = await deps.limiter.incr(f"pump/{facts.prefix}/sends", window)
    conversions = await deps.limiter.get(f"pump/{facts.prefix}/approved")
    if not looks_pumped(sends, conversions, policy):
        return
    now = deps.clock.now()
    if await uow.prefix_blocks.active(facts.prefix, now) is not None:
        return
    await uow.prefix_blocks.add(
        PrefixBlock(
            prefix=facts.prefix,
            country=facts.region,
            blocked_at=now,
            until=now + policy.block_for,
            sends=sends,
            conversions=conversions,
        )
    )
    metrics.PREFIX_BLOCKS.labels(country=facts.region).inc()
    log.warning(
        "abuse.prefix_blocked",
        prefix=facts.prefix,
        country=facts.region,
        sends=sends,
        conversions=conversions,
        until=(now + policy.block_for).isoformat(),
    )


def _subject(verification: Verification) -> str:
    return verification.account_id or f"destination:{contact_key(verification.destination)}"


async def before_subject_check(deps: Deps, subject: str) -> None:
    """The per-account check limits, for sent codes and for the codes a holder has (an
    authenticator's, the recovery code) alike."""
    await deps.limiter.check("code.check.failures", subject)
    await deps.limiter.hit("code.check.account", subject)


async def after_subject_check(deps: Deps, subject: str, valid: bool) -> None:
    if not valid:
        with contextlib.suppress(TooManyRequests):  # the next check is refused
            await deps.limiter.hit("code.check.failures", subject)
        return
    await deps.limiter.clear("code.check.failures", subject)


async def before_check(deps: Deps, verification: Verification) -> None:
    await before_subject_check(deps, _subject(verification))


async def after_check(deps: Deps, verification: Verification, valid: bool) -> None:
    subject = _subject(verification)
    await after_subject_check(deps, subject, valid)
    if not valid:
        return
    country = "-"
    if verification.channel is Channel.SMS:
        facts = number_facts(verification.destination, deps.config.pumping.prefix_digits)
        country = facts.region
        window = int(deps.config.pumping.window.total_seconds())
        await deps.limiter.incr(f"pump/{facts.prefix}/approved", window)
    metrics.CODES_APPROVED.labels(channel=verification.channel.value, country=country).inc()
