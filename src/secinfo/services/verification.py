"""Verification codes: start, resend and check, shared by every flow.

These helpers run inside the caller's unit of work so the code message commits with
the verification that caused it. Flow modules (sign-up, step-up, add info, the Verify
API) decide *what* is being verified; this module owns *how*.
"""

from __future__ import annotations

from dataclasses import dataclass

from secinfo.domain.codes import generate_code
from secinfo.domain.contacts import Channel, mask
from secinfo.domain.errors import InvalidCode, NotFound
from secinfo.domain.verification import Purpose, Status, Verification
from secinfo.ports import UnitOfWork
from secinfo.services import abuse
from secinfo.services.deps import Deps, new_id
from secinfo.services.messages import masked_account_name, queue_code


@dataclass(frozen=True)
class SendOptions:
    """What an integrator's own settings change about its codes: the length, and the
    name the message says it comes from. None: the operator's setting."""

    code_length: int | None = None
    sender_name: str | None = None


@dataclass(frozen=True)
class CheckOutcome:
    verification: Verification
    valid: bool
    attempts_left: int


def new_verification(
    deps: Deps,
    *,
    purpose: Purpose,
    channel: Channel,
    destination: str,
    locale: str = "en",
    account_id: str | None = None,
    api_key_id: str | None = None,
    subject_id: str | None = None,
    session_id: str | None = None,
) -> Verification:
    now = deps.clock.now()
    return Verification(
        id=new_id("ver"),
        purpose=purpose,
        channel=channel,
        destination=destination,
        created_at=now,
        expires_at=now + deps.config.code_policy.ttl,
        account_id=account_id,
        api_key_id=api_key_id,
        subject_id=subject_id,
        session_id=session_id,
        locale=locale,
    )


async def send_new_code(
    deps: Deps,
    uow: UnitOfWork,
    verification: Verification,
    masked_account: str | None = None,
    options: SendOptions | None = None,
    *,
    client_ip: str | None,
) -> None:
    """Generate a code, record the send (cool-down and send ceiling apply) and queue it.

    The verification's own rules come first, then the named limits and the SMS-pumping
    guard; a refusal leaves nothing written (the caller's transaction is not committed).
    """
    policy = deps.config.code_policy
    length = options.code_length if options and options.code_length else policy.length
    code = generate_code(length, policy.alphanumeric)
    verification.record_send(deps.codes.hash(verification.id, code), deps.clock.now(), policy)
    facts = await abuse.before_send(deps, uow, verification, client_ip)
    account = masked_account or mask(verification.channel, verification.destination)
    sender = options.sender_name if options else None
    await queue_code(deps, uow, verification, code, account, sender)
    await abuse.after_send(deps, uow, verification, facts)


async def start(
    deps: Deps,
    uow: UnitOfWork,
    verification: Verification,
    masked_account: str | None = None,
    options: SendOptions | None = None,
    *,
    client_ip: str | None,
) -> Verification:
    await send_new_code(deps, uow, verification, masked_account, options, client_ip=client_ip)
    await uow.verifications.add(verification)
    return verification


async def resend(
    deps: Deps,
    uow: UnitOfWork,
    verification: Verification,
    masked_account: str | None = None,
    options: SendOptions | None = None,
    *,
    client_ip: str | None,
) -> Verification:
    await send_new_code(deps, uow, verification, masked_account, options, client_ip=client_ip)
    await uow.verifications.update(verification)
    return verification


async def check(deps: Deps, uow: UnitOfWork, verification: Verification, code: str) -> CheckOutcome:
    """Check a code and store the result. The caller commits even when it is wrong."""
    policy = deps.config.code_policy
    await abuse.before_check(deps, verification)
    valid = verification.check(code, deps.clock.now(), policy, deps.codes)
    await uow.verifications.update(verification)
    await abuse.after_check(deps, verification, valid)
    return CheckOutcome(verification, valid, verification.attempts_left(policy))


def raise_if_invalid(outcome: CheckOutcome) -> None:
    """For holder flows a wrong code is an error (after its attempt was committed)."""
    if outcome.valid:
        return
    if outcome.verification.status is Status.MAX_ATTEMPTS_REACHED:
        raise InvalidCode(
            "That code is not right, and that was the last try for this verification: "
            "ask for a new code.",
            attempts_left=0,
        )
    raise InvalidCode(attempts_left=outcome.attempts_left)


# The holder's own verifications that "I didn't get a code" resends.
HOLDER_RESEND_PURPOSES = {Purpose.ADD_INFO, Purpose.STEP_UP, Purpose.REPLACE_INFO}


async def load_for_holder(
    uow: UnitOfWork, verification_id: str, account_id: str | None, purposes: set[Purpose]
) -> Verification:
    """Fetch a verification the caller may act on; anything else is 'not found'."""
    verification = await uow.verifications.get_for_update(verification_id)
    if (
        verification is None
        or verification.purpose not in purposes
        or (account_id is not None and verification.account_id != account_id)
    ):
        raise NotFound("No verification with that id is waiting for you.")
    return verification


async def resend_for_holder(
    deps: Deps, account_id: str, verification_id: str, *, client_ip: str | None
) -> Verification:
    """I didn't get a code: a new code on the holder's own open verification."""
    async with deps.uow() as uow:
        verification = await load_for_holder(
            uow,
            verification_id,
            account_id,
            HOLDER_RESEND_PURPOSES,
        )
        await resend_in(deps, uow, verification, client_ip=client_ip)
        await uow.commit()
    deps.outbox_wakeup()
    return verification


async def peek_for_holder(deps: Deps, account_id: str, verification_id: str) -> Verification | None:
    """The holder's own open verification, read only (for a code page), or None."""
    async with deps.uow() as uow:
        verification = await uow.verifications.get(verification_id)
    if verification is None or verification.account_id != account_id:
        return None
    if verification.purpose not in HOLDER_RESEND_PURPOSES:
        return None
    return verification


async def record_silent_send(
    deps: Deps, uow: UnitOfWork, verification: Verification, *, client_ip: str | None
) -> None:
    """Look exactly like a send (same rules, same limits), but send no code: for answers
    that must not tell whether an account or contact exists. The empty hash recorded
    never matches a code."""
    verification.record_send("", deps.clock.now(), deps.config.code_policy)
    await abuse.before_send(deps, uow, verification, client_ip)


async def resend_in(
    deps: Deps, uow: UnitOfWork, verification: Verification, *, client_ip: str | None
) -> None:
    """A new code on an open verification, inside the caller's transaction.

    A verification that never sends codes (a sign-up for a taken name, a recovery
    contact that did not match) takes the same limits and sends nothing.
    """
    if not any(sent.code_hash for sent in verification.codes):
        await record_silent_send(deps, uow, verification, client_ip=client_ip)
        await uow.verifications.update(verification)
        return
    masked = None
    if verification.account_id:
        items = await uow.security_info.list_for_account(verification.account_id)
        masked = masked_account_name(items)
    await resend(deps, uow, verification, masked, client_ip=client_ip)


async def start_for_account(
    deps: Deps,
    uow: UnitOfWork,
    *,
    purpose: Purpose,
    channel: Channel,
    destination: str,
    account_id: str,
    subject_id: str | None = None,
    session_id: str | None = None,
    client_ip: str | None,
) -> Verification:
    """Start a verification for one of an account's flows: in the account's language,
    with the message naming the account by its masked sign-in name."""
    account = await uow.accounts.get(account_id)
    items = await uow.security_info.list_for_account(account_id)
    verification = new_verification(
        deps,
        purpose=purpose,
        channel=channel,
        destination=destination,
        account_id=account_id,
        subject_id=subject_id,
        session_id=session_id,
        locale=account.locale if account else "en",
    )
    return await start(deps, uow, verification, masked_account_name(items), client_ip=client_ip)
