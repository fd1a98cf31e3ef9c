"""Sign-in: password, then a code only when it is needed, and the reconfirm prompt.

A code is asked for when 2-step verification is on, after many recent failures, after
long inactivity, or when the sign-in looks unusual (a device not seen before together
with a network or country not seen before). When no security info was verified for a
year, sign-in asks the holder to verify or add some: skippable for 24 hours at a time,
required from 7 days after the first prompt.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from secinfo.domain.codes import token_hash
from secinfo.domain.contacts import contact_key, normalize_contact
from secinfo.domain.dates import format_moment
from secinfo.domain.errors import (
    AccountLocked,
    ChallengeNotFound,
    CodeNotSupported,
    DomainError,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    Overloaded,
    PasswordResetRequired,
    ReconfirmRequired,
)
from secinfo.domain.events import EventTag
from secinfo.domain.limits import client_network
from secinfo.domain.model import (
    Account,
    AccountStatus,
    ChallengeReason,
    InfoKind,
    InfoState,
    PasskeyPurpose,
    RequestContext,
    SecurityInfo,
    SignInChallenge,
    contact_for,
)
from secinfo.domain.rules import (
    ReconfirmState,
    SignInFacts,
    challenge_reason,
    enforce_reconfirm_from,
    network_of,
    reconfirm_state,
)
from secinfo.domain.verification import Purpose, Verification
from secinfo.ports import UnitOfWork
from secinfo.services import activity, authenticators, passkeys, replace_info
from secinfo.services import verification as codes
from secinfo.services.accounts import NewSession, open_session
from secinfo.services.deps import Deps, new_id
from secinfo.services.enumeration import contact_shapes
from secinfo.services.messages import notify_contacts
from secinfo.services.security_info import add_pending_with_code


@dataclass(frozen=True)
class ChallengeView:
    challenge: SignInChallenge
    options: list[SecurityInfo] = field(default_factory=list)
    enforced_from: datetime | None = None
    # The account holds a passkey: signing in with it instead needs no step at all.
    passkey: bool = False


@dataclass(frozen=True)
class SignInResult:
    """Either a session, or the step that must come first."""

    session: NewSession | None = None
    challenge: ChallengeView | None = None


async def _check_password(
    deps: Deps, sign_in_name: str, password: str, context: RequestContext
) -> Account:
    # A place for the hash first: in a rush, refused (503 overloaded) before any other work.
    with deps.passwords.place():
        return await _check_password_in_place(deps, sign_in_name, password, context)


async def _check_password_in_place(
    deps: Deps, sign_in_name: str, password: str, context: RequestContext
) -> Account:
    try:
        _, value = normalize_contact(sign_in_name)
    except DomainError:
        value = None
    # Limits count known and unknown names alike, so a refusal tells nothing.
    network = client_network(context.ip)
    if network:
        await deps.limiter.hit("sign_in.ip", network)
    await deps.limiter.hit(
        "sign_in.name", contact_key(value) if value else sign_in_name.strip().casefold()[:320]
    )
    shapes = await contact_shapes(deps)
    stand_in = shapes.any_account()
    async with deps.uow() as uow:
        # The same statements for unknown names, reading a real account (thrown away):
        # equal timing.
        account_id = await uow.security_info.find_sign_in_account(value or "")
        found = await uow.accounts.get(account_id or stand_in or "acc_none")
        account = found if account_id is not None else None
    # A closed account may sign in: that cancels its closure (``open_session``).
    if account is None or account.status not in (AccountStatus.ACTIVE, AccountStatus.CLOSED):
        await deps.passwords.burn()
        # A real name's wrong password writes its failure record below; an unknown name
        # writes the same record for a real account and rolls it back, so both take as
        # long (no enumeration by timing).
        if stand_in is not None:
            # The stand-in may have been erased since it was sampled: then nothing to do.
            with contextlib.suppress(Exception):
                async with deps.uow() as uow:
                    await _record_failure(deps, uow, stand_in, context)
                    began = time.perf_counter()
                deps.enumeration.commits.pad(time.perf_counter() - began)
        raise InvalidCredentials()
    if not await deps.passwords.verify(account.password_hash, password):
        async with deps.uow() as uow:
            await _record_failure(deps, uow, account.id, context)
            began = time.perf_counter()
            await uow.commit()
        # The commit and giving the connection back, against a rollback and the same.
        deps.enumeration.commits.observe(time.perf_counter() - began)
        raise InvalidCredentials()
    # Told only after the right password, like every refusal past this point.
    if account.locked:
        raise AccountLocked()
    if account.password_reset_required:
        raise PasswordResetRequired()
    return account


async def _current_hash(deps: Deps, account: Account, password: str) -> str | None:
    """A hash with today's parameters when the stored one was made with others (written
    in the sign-in's transaction); None when it is current, or when the hashing pool is
    too busy for the extra hash: the sign-in goes on and the next one tries again."""
    if not deps.passwords.needs_rehash(account.password_hash):
        return None
    try:
        return await deps.passwords.hash(password)
    except Overloaded:
        return None


async def _record_failure(
    deps: Deps, uow: UnitOfWork, account_id: str, context: RequestContext
) -> None:
    # Not waiting for the disk keeps the record cheap; losing it in a crash is harmless.
    await uow.relax_durability()
    await activity.record(
        deps, uow, account_id, EventTag.SIGN_IN_FAILURE, context, outcome="wrong_password"
    )


def challenge_options(items: list[SecurityInfo]) -> list[SecurityInfo]:
    """What a sign-in step offers: every item that can prove it's the holder with a
    code, the authenticator apps first (2-step asks for one first), the recovery code
    last. A passkey is not a step: signing in with it (``sign_in_with_passkey``) needs no
    password and no step at all."""
    order = {InfoKind.AUTHENTICATOR: 0, InfoKind.RECOVERY_CODE: 2}
    return sorted(
        (item for item in items if item.can_prove and not item.kind.signs),
        key=lambda item: order.get(item.kind, 1),
    )


def last_confirmed(items: list[SecurityInfo]) -> datetime | None:
    """When a code last proved one of the holder's contacts works (a passkey's use
    confirms no other info)."""
    times = [
        moment
        for item in items
        if item.state is not InfoState.REMOVED and item.kind is not InfoKind.PASSKEY
        for moment in (item.last_used_at, item.verified_at)
        if moment is not None
    ]
    return max(times, default=None)


async def sign_in(
    deps: Deps, sign_in_name: str, password: str, context: RequestContext
) -> SignInResult:
    account = await _check_password(deps, sign_in_name, password, context)
    new_hash = await _current_hash(deps, account, password)
    now = deps.clock.now()
    policy = deps.config.sign_in
    async with deps.uow() as uow:
        if new_hash is not None and await uow.accounts.replace_password_hash(
            account.id, account.password_hash, new_hash
        ):
            account.password_hash = new_hash
        items = await uow.security_info.list_for_account(account.id)
        options = challenge_options(items)
        reason = challenge_reason(await _facts(deps, uow, account, context), now, policy)
        skippable = False
        if reason is not None and not options:
            reason = None  # nothing can receive a code; the reconfirm prompt asks to add some
        if reason is None:
            state = await _reconfirm_due(deps, uow, account, items)
            if state in (ReconfirmState.SKIPPABLE, ReconfirmState.REQUIRED):
                reason = ChallengeReason.RECONFIRM
                skippable = state is ReconfirmState.SKIPPABLE
        if reason is None:
            new_session = await open_session(deps, uow, account, context)
            await activity.record(deps, uow, account.id, EventTag.SIGN_IN_SUCCESS, context)
            await uow.commit()
            return SignInResult(session=new_session)
        challenge = await _challenge(deps, uow, account, reason, skippable, context)
        await uow.commit()
    deps.outbox_wakeup()
    return SignInResult(challenge=_view(deps, challenge, account, items))


async def _challenge(
    deps: Deps,
    uow: UnitOfWork,
    account: Account,
    reason: ChallengeReason,
    skippable: bool,
    context: RequestContext,
) -> SignInChallenge:
    now = deps.clock.now()
    challenge = SignInChallenge(
        id=new_id("chl"),
        account_id=account.id,
        reason=reason,
        created_at=now,
        expires_at=now + deps.config.sign_in.challenge_ttl,
        ip=context.ip,
        user_agent=context.user_agent,
        skippable=skippable,
    )
    await uow.challenges.add(challenge)
    await activity.record(
        deps,
        uow,
        account.id,
        EventTag.SIGN_IN_CHALLENGED,
        context,
        outcome="challenged",
        reason=reason.value,
    )
    if reason is ChallengeReason.UNUSUAL_SIGN_IN:
        await notify_contacts(
            deps,
            uow,
            account,
            "unusual_sign_in",
            {
                "ip": context.ip or "unknown",
                "country": deps.countries.country(context.ip) or "unknown",
                "device": (context.user_agent or "unknown device")[:80],
                "when": format_moment(now, account.locale),
            },
        )
    return challenge


async def _reconfirm_due(
    deps: Deps, uow: UnitOfWork, account: Account, items: list[SecurityInfo]
) -> ReconfirmState:
    """Whether sign-in asks to reconfirm the security info; the first ask is dated."""
    now = deps.clock.now()
    state = reconfirm_state(
        last_confirmed(items),
        account.reconfirm_prompted_at,
        account.reconfirm_skipped_until,
        now,
        deps.config.reconfirm,
    )
    due = state in (ReconfirmState.SKIPPABLE, ReconfirmState.REQUIRED)
    if due and account.reconfirm_prompted_at is None:
        account.reconfirm_prompted_at = now
        await uow.accounts.set_reconfirm(account.id, now, account.reconfirm_skipped_until)
    return state


async def sign_in_with_passkey(
    deps: Deps, authentication_id: str, credential: dict[str, Any], context: RequestContext
) -> SignInResult:
    """No name, no password: a passkey that verified its user is two factors, so 2-step,
    unusual-sign-in and inactivity ask for nothing more. The reconfirm prompt still asks
    about the other info (a passkey's use confirms no email or phone)."""
    await passkeys.limit(deps, context)
    item = await passkeys.answer(
        deps, authentication_id, PasskeyPurpose.SIGN_IN, None, credential, context
    )
    await passkeys.signed_in_account(deps, item)
    async with deps.uow() as uow:
        account = await uow.accounts.get(item.account_id)
        if account is None:
            raise ChallengeNotFound()
        items = await uow.security_info.list_for_account(account.id)
        state = await _reconfirm_due(deps, uow, account, items)
        if state in (ReconfirmState.SKIPPABLE, ReconfirmState.REQUIRED):
            skippable = state is ReconfirmState.SKIPPABLE
            challenge = await _challenge(
                deps, uow, account, ChallengeReason.RECONFIRM, skippable, context
            )
            await uow.commit()
            return SignInResult(challenge=_view(deps, challenge, account, items))
        new_session = await open_session(deps, uow, account, context)
        await activity.record(
            deps,
            uow,
            account.id,
            EventTag.SIGN_IN_SUCCESS,
            context,
            method="passkey",
            item_id=item.id,
            label=item.display_name,
        )
        await uow.commit()
    return SignInResult(session=new_session)


def _view(
    deps: Deps, challenge: SignInChallenge, account: Account, items: list[SecurityInfo]
) -> ChallengeView:
    enforced_from = None
    if challenge.reason is ChallengeReason.RECONFIRM and account.reconfirm_prompted_at:
        enforced_from = enforce_reconfirm_from(account.reconfirm_prompted_at, deps.config.reconfirm)
    passkey = any(item.kind.signs and item.can_prove for item in items)
    return ChallengeView(challenge, challenge_options(items), enforced_from, passkey)


async def _facts(
    deps: Deps, uow: UnitOfWork, account: Account, context: RequestContext
) -> SignInFacts:
    now = deps.clock.now()
    device_known = False
    if context.device_token:
        device = await uow.devices.get_by_token_hash(account.id, token_hash(context.device_token))
        device_known = device is not None
    network = network_of(context.ip)
    network_known = network is None or await uow.known_networks.is_known(account.id, network)
    country = deps.countries.country(context.ip)
    country_known = country is None or country in await uow.known_networks.countries(account.id)
    failures = await uow.activity.count_since(
        account.id, EventTag.SIGN_IN_FAILURE.value, now - deps.config.sign_in.failure_window
    )
    return SignInFacts(
        device_known=device_known,
        network_known=network_known,
        country_known=country_known,
        recent_failures=failures,
        last_sign_in_at=account.last_sign_in_at,
        two_step_enabled=account.two_step_enabled,
    )


async def _open_challenge(uow: UnitOfWork, deps: Deps, challenge_id: str) -> SignInChallenge:
    challenge = await uow.challenges.get(challenge_id)
    if (
        challenge is None
        or challenge.completed_at is not None
        or deps.clock.now() >= challenge.expires_at
    ):
        raise ChallengeNotFound()
    return challenge


async def send_code(
    deps: Deps, challenge_id: str, security_info_id: str, *, client_ip: str | None
) -> Verification:
    """Send the sign-in code to the contact the person chose."""
    async with deps.uow() as uow:
        challenge = await _open_challenge(uow, deps, challenge_id)
        item = await uow.security_info.get(security_info_id)
        if item is None or item.account_id != challenge.account_id:
            raise NotFound("Choose one of the contacts offered for this sign-in.")
        if not item.can_receive_codes or item.channel is None:
            raise CodeNotSupported("That contact cannot receive codes.")
        purpose = (
            Purpose.RECONFIRM if challenge.reason is ChallengeReason.RECONFIRM else Purpose.SIGN_IN
        )
        verification = await codes.start_for_account(
            deps,
            uow,
            purpose=purpose,
            channel=item.channel,
            destination=item.value,
            account_id=challenge.account_id,
            subject_id=item.id,
            session_id=challenge.id,
            client_ip=client_ip,
        )
        await uow.commit()
    deps.outbox_wakeup()
    return verification


async def add_info(
    deps: Deps, challenge_id: str, kind: InfoKind, value: str, context: RequestContext
) -> Verification:
    """At the reconfirm prompt: add new info instead of verifying old info.

    With no contact left that can receive codes, the new one becomes active once its code
    is typed back. Otherwise it replaces the current info through the 30-day waiting
    period ("I don't have any of these"), so a stolen password cannot swap contacts.
    """
    channel, normalized = contact_for(kind, value)
    async with deps.uow() as uow:
        challenge = await _open_challenge(uow, deps, challenge_id)
        if challenge.reason is not ChallengeReason.RECONFIRM:
            raise InvalidInput("New info can only be added at the reconfirm step.")
        items = await uow.security_info.list_for_account(challenge.account_id)
        replacing = any(other.can_receive_codes for other in items)
        _, verification = await add_pending_with_code(
            deps,
            uow,
            challenge.account_id,
            challenge.id,
            kind,
            (channel, normalized),
            None,
            Purpose.REPLACE_INFO if replacing else Purpose.ADD_INFO,
            context.ip,
        )
        await uow.commit()
    deps.outbox_wakeup()
    return verification


async def verify_code(
    deps: Deps, challenge_id: str, verification_id: str, code: str, context: RequestContext
) -> NewSession:
    """Type back the code; the sign-in finishes and the reconfirm clock starts again."""
    async with deps.uow() as uow:
        challenge = await _open_challenge(uow, deps, challenge_id)
        verification = await codes.load_for_holder(
            uow,
            verification_id,
            challenge.account_id,
            {Purpose.SIGN_IN, Purpose.RECONFIRM, Purpose.ADD_INFO, Purpose.REPLACE_INFO},
        )
        if verification.session_id != challenge.id:
            raise NotFound("That code was not sent for this sign-in.")
        outcome = await codes.check(deps, uow, verification, code)
        new_session = None
        if outcome.valid:
            new_session = await _finish(deps, uow, challenge, verification, context)
        else:
            await activity.record(
                deps,
                uow,
                challenge.account_id,
                EventTag.CODE_CHECK_FAILED,
                context,
                outcome="wrong_code",
                purpose=verification.purpose.value,
            )
        await uow.commit()
    codes.raise_if_invalid(outcome)
    deps.outbox_wakeup()
    assert new_session is not None
    return new_session


async def _finish(
    deps: Deps,
    uow: UnitOfWork,
    challenge: SignInChallenge,
    verification: Verification,
    context: RequestContext,
) -> NewSession:
    now = deps.clock.now()
    account = await uow.accounts.get(challenge.account_id)
    item = await uow.security_info.get(verification.subject_id or "")
    if account is None or item is None:
        raise ChallengeNotFound()
    if verification.purpose is Purpose.REPLACE_INFO:
        await replace_info.hold_swap(deps, uow, account.id, item.id, context)
    else:
        if verification.purpose is Purpose.ADD_INFO:
            item.state = InfoState.ACTIVE
            item.verified_at = now
        item.last_used_at = now
        await uow.security_info.update(item)
    if verification.purpose is not Purpose.SIGN_IN or challenge.reason is ChallengeReason.RECONFIRM:
        await activity.record(deps, uow, account.id, EventTag.RECONFIRMED, context, item_id=item.id)
    return await _complete(deps, uow, challenge, account, context)


async def _complete(
    deps: Deps,
    uow: UnitOfWork,
    challenge: SignInChallenge,
    account: Account,
    context: RequestContext,
) -> NewSession:
    now = deps.clock.now()
    account.reconfirm_prompted_at = None
    account.reconfirm_skipped_until = None
    await uow.accounts.set_reconfirm(account.id, None, None)
    challenge.completed_at = now
    await uow.challenges.update(challenge)
    new_session = await open_session(deps, uow, account, context)
    await activity.record(
        deps, uow, account.id, EventTag.SIGN_IN_SUCCESS, context, reason=challenge.reason.value
    )
    return new_session


@dataclass(frozen=True)
class HeldSignIn:
    session: NewSession
    new_recovery_code: str | None = None


async def verify_held(
    deps: Deps, challenge_id: str, item_id: str, code: str, context: RequestContext
) -> HeldSignIn:
    """Finish a sign-in step with an authenticator's code or the recovery code; at the
    reconfirm prompt it counts as proof that the info still works."""
    async with deps.uow() as uow:
        challenge = await _open_challenge(uow, deps, challenge_id)
        item = await uow.security_info.get(item_id)
        if item is None or item.account_id != challenge.account_id:
            raise NotFound("Choose one of the options offered for this sign-in.")
        purpose = (
            Purpose.RECONFIRM if challenge.reason is ChallengeReason.RECONFIRM else Purpose.SIGN_IN
        )
        proof = await authenticators.prove(deps, uow, item, code, context, purpose.value)
        new_session = None
        if proof is not None:
            account = await uow.accounts.get(challenge.account_id)
            if account is None:
                raise ChallengeNotFound()
            if challenge.reason is ChallengeReason.RECONFIRM:
                await activity.record(
                    deps,
                    uow,
                    account.id,
                    EventTag.RECONFIRMED,
                    context,
                    item_id=item.id,
                    label=item.display_name,
                )
            new_session = await _complete(deps, uow, challenge, account, context)
        await uow.commit()
    if proof is None or new_session is None:
        raise authenticators.refuse(item)
    deps.outbox_wakeup()
    return HeldSignIn(new_session, proof.new_recovery_code)


async def skip_reconfirm(deps: Deps, challenge_id: str, context: RequestContext) -> NewSession:
    """Skip for now: allowed for 24 hours at a time, until 7 days after the first ask."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        challenge = await _open_challenge(uow, deps, challenge_id)
        account = await uow.accounts.get(challenge.account_id)
        if account is None or challenge.reason is not ChallengeReason.RECONFIRM:
            raise InvalidInput("Only the reconfirm step can be skipped.")
        prompted = account.reconfirm_prompted_at or now
        if not challenge.skippable or now >= enforce_reconfirm_from(
            prompted, deps.config.reconfirm
        ):
            raise ReconfirmRequired()
        account.reconfirm_skipped_until = now + deps.config.reconfirm.skip_for
        await uow.accounts.set_reconfirm(
            account.id, account.reconfirm_prompted_at, account.reconfirm_skipped_until
        )
        challenge.completed_at = now
        await uow.challenges.update(challenge)
        await activity.record(deps, uow, account.id, EventTag.RECONFIRM_SKIPPED, context)
        new_session = await open_session(deps, uow, account, context)
        await activity.record(deps, uow, account.id, EventTag.SIGN_IN_SUCCESS, context)
        await uow.commit()
    return new_session


async def view_challenge(deps: Deps, challenge_id: str) -> ChallengeView:
    """An open sign-in step as the person sees it again (the web page reloads it)."""
    async with deps.uow() as uow:
        challenge = await _open_challenge(uow, deps, challenge_id)
        account = await uow.accounts.get(challenge.account_id)
        items = await uow.security_info.list_for_account(challenge.account_id)
    if account is None:
        raise ChallengeNotFound()
    return _view(deps, challenge, account, items)


async def resend_code(
    deps: Deps, challenge_id: str, verification_id: str, *, client_ip: str | None
) -> Verification:
    """I didn't get a code, at a sign-in step: a new code (earlier ones stay valid)."""
    async with deps.uow() as uow:
        challenge = await _open_challenge(uow, deps, challenge_id)
        verification = await codes.load_for_holder(
            uow,
            verification_id,
            challenge.account_id,
            {Purpose.SIGN_IN, Purpose.RECONFIRM, Purpose.ADD_INFO, Purpose.REPLACE_INFO},
        )
        if verification.session_id != challenge.id:
            raise NotFound("That code was not sent for this sign-in.")
        await codes.resend_in(deps, uow, verification, client_ip=client_ip)
        await uow.commit()
    deps.outbox_wakeup()
    return verification
