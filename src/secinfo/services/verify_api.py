"""The Verify-style API for integrators: send a code to X, check it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from secinfo.domain.contacts import Channel, normalize_contact
from secinfo.domain.errors import Conflict, NotFound, ResendCooldown
from secinfo.domain.model import MessageStatus
from secinfo.domain.verification import Purpose, Status, Verification
from secinfo.ports import UnitOfWork
from secinfo.services import verification as codes
from secinfo.services.deps import Deps
from secinfo.services.verification import CheckOutcome, SendOptions


class Owner(Protocol):
    """Who started a verification and alone may act on it: an API key, or a service of
    the Twilio-compatible front end. Its id is stored with the verification."""

    @property
    def id(self) -> str: ...


@dataclass(frozen=True)
class VerificationView:
    verification: Verification
    delivery_status: MessageStatus | None = None


async def start(
    deps: Deps,
    api_key: Owner,
    to: str,
    channel: Channel,
    locale: str = "en",
    client_ip: str | None = None,
    options: SendOptions | None = None,
) -> Verification:
    """Send a code. A second start for the same ``to`` while one is pending resends on it.

    ``client_ip`` is the end user's address as the integrator saw it; the calling server's
    own address is never counted as one user.
    """
    channel, destination = normalize_contact(to, channel)
    # Concurrent starts for one ``to`` serialise on a unique index over the pending ones
    # (ux_verifications_pending_api): a start that loses the race starts over and finds
    # the winner's verification, then resends on it (or answers its cooldown).
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            verification = await _start_once(
                deps, api_key, channel, destination, locale, options, client_ip
            )
        except Conflict:
            if attempt == _START_ATTEMPTS:
                raise
            continue
        deps.outbox_wakeup()
        return verification
    raise AssertionError("unreachable")


_START_ATTEMPTS = 4


async def _start_once(
    deps: Deps,
    api_key: Owner,
    channel: Channel,
    destination: str,
    locale: str,
    options: SendOptions | None,
    client_ip: str | None,
) -> Verification:
    now = deps.clock.now()
    async with deps.uow() as uow:
        # One statement finds the pending verification, live or run out: a start that
        # finds none (the usual case) goes straight to the insert.
        pending = await uow.verifications.pending_for_api_key(api_key.id, channel, destination)
        if pending is not None and pending.expire_if_due(now):
            await uow.verifications.update(pending)
            pending = None
        if pending is not None:
            try:
                await codes.resend(deps, uow, pending, options=options, client_ip=client_ip)
            except ResendCooldown as error:
                raise ResendCooldown(
                    error.message, **error.details, verification_id=pending.id
                ) from None
            verification = pending
        else:
            verification = codes.new_verification(
                deps,
                purpose=Purpose.INTEGRATOR,
                channel=channel,
                destination=destination,
                api_key_id=api_key.id,
                locale=locale,
            )
            await codes.start(deps, uow, verification, options=options, client_ip=client_ip)
        await uow.commit()
    return verification


async def _owned(uow: UnitOfWork, api_key: Owner, verification_id: str) -> Verification:
    verification = await uow.verifications.get_for_update(verification_id)
    if verification is None or verification.api_key_id != api_key.id:
        raise NotFound("No verification with that id was started with this API key.")
    return verification


async def check(deps: Deps, api_key: Owner, verification_id: str, code: str) -> CheckOutcome:
    async with deps.uow() as uow:
        verification = await _owned(uow, api_key, verification_id)
        outcome = await codes.check(deps, uow, verification, code)
        await uow.commit()
    return outcome


async def cancel(deps: Deps, api_key: Owner, verification_id: str) -> Verification:
    async with deps.uow() as uow:
        verification = await _owned(uow, api_key, verification_id)
        verification.cancel(deps.clock.now())
        await uow.verifications.update(verification)
        await uow.commit()
    return verification


async def fetch(deps: Deps, api_key: Owner, verification_id: str) -> VerificationView:
    async with deps.uow() as uow:
        verification = await uow.verifications.get(verification_id)
        if verification is None or verification.api_key_id != api_key.id:
            raise NotFound("No verification with that id was started with this API key.")
        status = await uow.outbox.latest_status_for_verification(verification.id)
    return VerificationView(verification, status)


async def check_pending_to(deps: Deps, api_key: Owner, to: str, code: str) -> CheckOutcome:
    """Check a code against the pending verification for ``to`` (by phone or email)."""
    channel, destination = normalize_contact(to)
    async with deps.uow() as uow:
        # Started with this key, and read under a row lock: ready to check as it is.
        pending = await uow.verifications.pending_for_api_key(api_key.id, channel, destination)
        if pending is None or pending.current_status(deps.clock.now()) is not Status.PENDING:
            raise NotFound("No pending verification for that 'to' was started here.")
        outcome = await codes.check(deps, uow, pending, code)
        await uow.commit()
    return outcome


async def approve(deps: Deps, api_key: Owner, verification_id: str) -> Verification:
    """Mark a pending verification approved without a code (the integrator proved the
    person another way)."""
    async with deps.uow() as uow:
        verification = await _owned(uow, api_key, verification_id)
        verification.approve(deps.clock.now())
        await uow.verifications.update(verification)
        await uow.commit()
    return verification
