"""Passkeys as security info: register one, sign in with one, step up with one.

Each ceremony starts with options holding a fresh challenge (32 random bytes) bound to
its purpose and flow (the session that registers or steps up, or the recovery), good for
five minutes and for one answer: the first answer consumes it, right or wrong. A passkey
is discoverable and verifies its user (PIN or biometrics), so it is two factors on its
own: signing in with one needs no password and no code. Its signature counter must grow
when the authenticator keeps one; a regression (a cloned authenticator?) sets the passkey
aside as ``suspect``, refuses the sign-in and tells every contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from secinfo.domain.errors import (
    AccountLocked,
    AlreadyRegistered,
    InvalidInput,
    NotFound,
    PasskeyChallengeUsed,
    PasskeyCounterRegressed,
    PasskeyOptionsExpired,
    PasskeyRefused,
    PasskeySuspect,
    PasskeyUnknown,
    PasswordResetRequired,
)
from secinfo.domain.events import EventTag
from secinfo.domain.limits import client_network
from secinfo.domain.model import (
    Account,
    AccountStatus,
    InfoKind,
    InfoState,
    PasskeyChallenge,
    PasskeyPurpose,
    RequestContext,
    SecurityInfo,
    Session,
    clean_label,
)
from secinfo.domain.passkeys import authenticator_name
from secinfo.ports import UnitOfWork
from secinfo.services import activity
from secinfo.services import passkey_ceremony as ceremony
from secinfo.services.authenticators import open_for_adding
from secinfo.services.deps import Deps, new_id
from secinfo.services.messages import notify_contacts
from secinfo.services.security_info import activate


@dataclass(frozen=True)
class Options:
    """What the browser needs for ``navigator.credentials.create/get``, and the id to
    send back with its answer."""

    id: str
    options: dict[str, Any]
    expires_at: datetime


async def _new_challenge(
    deps: Deps,
    uow: UnitOfWork,
    purpose: PasskeyPurpose,
    account_id: str | None,
    flow_id: str | None,
) -> PasskeyChallenge:
    now = deps.clock.now()
    challenge = PasskeyChallenge(
        id=new_id("pkc"),
        purpose=purpose,
        challenge=ceremony.new_challenge(deps),
        created_at=now,
        expires_at=now + deps.config.passkeys.options_ttl,
        account_id=account_id,
        flow_id=flow_id,
    )
    await uow.passkey_challenges.add(challenge)
    return challenge


async def _consume(
    deps: Deps,
    uow: UnitOfWork,
    challenge_id: str,
    purpose: PasskeyPurpose,
    flow_id: str | None,
) -> PasskeyChallenge:
    """The open challenge of this flow, now used; refused when unknown, of another flow,
    expired or used already."""
    now = deps.clock.now()
    challenge = await uow.passkey_challenges.get(challenge_id)
    if challenge is None or challenge.purpose is not purpose or challenge.flow_id != flow_id:
        raise PasskeyOptionsExpired()
    if challenge.used_at is not None:
        raise PasskeyChallengeUsed()
    if now >= challenge.expires_at:
        raise PasskeyOptionsExpired()
    if not await uow.passkey_challenges.consume(challenge, now):
        raise PasskeyChallengeUsed()
    return challenge


def _passkeys(items: list[SecurityInfo]) -> list[SecurityInfo]:
    return [item for item in items if item.kind is InfoKind.PASSKEY and item.credential_id]


def _user_name(items: list[SecurityInfo]) -> str:
    """How the holder's own authenticator lists the passkey: the first sign-in name."""
    for item in items:
        if item.sign_in and item.channel is not None:
            return item.value
    return next((item.value for item in items if item.channel is not None), "account")


async def _account(uow: UnitOfWork, account_id: str) -> Account:
    account = await uow.accounts.get(account_id)
    if account is None:
        raise NotFound("No such account.")
    return account


# -- register --------------------------------------------------------------------------


async def registration_options(deps: Deps, session: Session) -> Options:
    """Options to create a passkey for the signed-in holder (step-up first when the
    account already holds info that can prove it's them)."""
    rp = ceremony.relying_party(deps)
    async with deps.uow() as uow:
        items = await open_for_adding(deps, uow, session)
        passkeys = _passkeys(items)
        limit = deps.config.passkeys.max_per_account
        if len(passkeys) >= limit:
            raise InvalidInput(
                f"An account may hold at most {limit} passkeys; remove one you no longer use."
            )
        account = await _account(uow, session.account_id)
        if account.passkey_user_handle is None:
            account.passkey_user_handle = ceremony.new_user_handle(deps)
            await uow.accounts.update(account)
        challenge = await _new_challenge(
            deps, uow, PasskeyPurpose.REGISTER, session.account_id, session.id
        )
        options = ceremony.creation_options(
            deps,
            rp,
            challenge.challenge,
            account.passkey_user_handle,
            _user_name(items),
            [item.credential_id for item in passkeys if item.credential_id],
        )
        await uow.commit()
    return Options(challenge.id, options, challenge.expires_at)


async def register(
    deps: Deps,
    session: Session,
    registration_id: str,
    credential: dict[str, Any],
    label: str | None,
    context: RequestContext,
) -> SecurityInfo:
    """Check the authenticator's answer; the new passkey is active at once and every
    contact is told."""
    rp = ceremony.relying_party(deps)
    cleaned = clean_label(label)
    parsed = ceremony.parse_registration(credential)
    async with deps.uow() as uow:
        await open_for_adding(deps, uow, session)
        challenge = await _consume(deps, uow, registration_id, PasskeyPurpose.REGISTER, session.id)
        await uow.commit()  # used, whatever the answer turns out to be
    async with deps.uow() as uow:
        items = await open_for_adding(deps, uow, session)
        new = ceremony.verify_registration(
            rp, challenge.challenge, parsed, list(deps.config.passkeys.algorithms)
        )
        if await uow.security_info.find_passkey(new.credential_id) is not None:
            raise AlreadyRegistered("This passkey is registered already.")
        if len(_passkeys(items)) >= deps.config.passkeys.max_per_account:
            raise InvalidInput("This account holds the most passkeys it may; remove one first.")
        item = SecurityInfo(
            id=new_id("inf"),
            account_id=session.account_id,
            kind=InfoKind.PASSKEY,
            value="",
            state=InfoState.PENDING,
            added_at=deps.clock.now(),
            label=cleaned or authenticator_name(new.aaguid),
            credential_id=new.credential_id,
            public_key=new.public_key,
            aaguid=new.aaguid,
            last_step=new.sign_count,
        )
        await uow.security_info.add(item)
        await activity.record_item(
            deps,
            uow,
            EventTag.SECURITY_INFO_ADDED,
            context,
            item,
        )
        await activate(deps, uow, item, context)
        await uow.commit()
    deps.outbox_wakeup()
    return item


# -- sign in and step up ---------------------------------------------------------------


async def sign_in_options(deps: Deps, context: RequestContext) -> Options:
    """Options for a passkey sign-in: no name asked, any of the site's passkeys may
    answer (discoverable credentials, empty ``allowCredentials``)."""
    rp = ceremony.relying_party(deps)
    await limit(deps, context)
    async with deps.uow() as uow:
        challenge = await _new_challenge(deps, uow, PasskeyPurpose.SIGN_IN, None, None)
        await uow.commit()
    return Options(
        challenge.id,
        ceremony.request_options(deps, rp, challenge.challenge, []),
        challenge.expires_at,
    )


async def limit(deps: Deps, context: RequestContext) -> None:
    network = client_network(context.ip)
    if network:
        await deps.limiter.hit("passkey.ip", network)


async def step_up_options(deps: Deps, session: Session) -> Options:
    rp = ceremony.relying_party(deps)
    async with deps.uow() as uow:
        items = await uow.security_info.list_for_account(session.account_id)
        allow = [item.credential_id for item in _passkeys(items) if item.can_prove]
        if not allow:
            raise NotFound("There is no active passkey on your account.")
        challenge = await _new_challenge(
            deps, uow, PasskeyPurpose.STEP_UP, session.account_id, session.id
        )
        await uow.commit()
    return Options(
        challenge.id,
        ceremony.request_options(deps, rp, challenge.challenge, [a for a in allow if a]),
        challenge.expires_at,
    )


async def recovery_options(deps: Deps, recovery_id: str) -> Options:
    """Options for a passkey proof at a forgotten password: discoverable, listing no
    credential, the same for every recovery (known name or not: nothing to enumerate)."""
    rp = ceremony.relying_party(deps)
    await limit(deps, RequestContext())
    async with deps.uow() as uow:
        challenge = await _new_challenge(deps, uow, PasskeyPurpose.RECOVERY, None, recovery_id)
        await uow.commit()
    options = ceremony.request_options(deps, rp, challenge.challenge, [])
    return Options(challenge.id, options, challenge.expires_at)


async def purge_expired_options(deps: Deps) -> int:
    """Options past their five minutes are of no use: dropped (an hour later, so a late
    answer still reads 'expired', not 'unknown')."""
    async with deps.uow() as uow:
        purged = await uow.passkey_challenges.purge_before(deps.clock.now() - timedelta(hours=1))
        await uow.commit()
    return purged


async def prove(
    deps: Deps,
    uow: UnitOfWork,
    challenge: PasskeyChallenge,
    credential: dict[str, Any],
    context: RequestContext,
) -> SecurityInfo:
    """The active passkey that signed this challenge, its counter and last use updated;
    refused with the reason otherwise. A counter regression marks it suspect and tells
    every contact: the caller commits before it refuses."""
    rp = ceremony.relying_party(deps)
    parsed = ceremony.parse_assertion(credential)
    item = await uow.security_info.find_passkey(parsed.id)
    if (
        item is None
        or item.state in (InfoState.REMOVED, InfoState.PENDING)
        or (challenge.account_id is not None and item.account_id != challenge.account_id)
    ):
        raise PasskeyUnknown()
    account = await _account(uow, item.account_id)
    handle = ceremony.user_handle_of(parsed)
    if handle is not None and handle != account.passkey_user_handle:
        raise PasskeyUnknown()
    if item.state is InfoState.SUSPECT:
        raise PasskeySuspect()
    count = ceremony.verify_assertion(rp, challenge.challenge, parsed, item.public_key or "")
    stored = item.last_step or 0
    keeps_counter = bool(count or stored)  # when the authenticator keeps one, it must grow
    if keeps_counter and (count <= stored or not await uow.security_info.claim_step(item, count)):
        await _set_aside(deps, uow, account, item, context)
        raise PasskeyCounterRegressed()
    item.last_used_at = deps.clock.now()
    await uow.security_info.update(item)
    return item


async def _set_aside(
    deps: Deps, uow: UnitOfWork, account: Account, item: SecurityInfo, context: RequestContext
) -> None:
    item.state = InfoState.SUSPECT
    await uow.security_info.update(item)
    await activity.record_item(
        deps,
        uow,
        EventTag.PASSKEY_SUSPECT,
        context,
        item,
        outcome="counter_regressed",
    )
    await notify_contacts(deps, uow, account, "passkey_suspect", {"passkey": item.display_name})


async def answer(
    deps: Deps,
    challenge_id: str,
    purpose: PasskeyPurpose,
    flow_id: str | None,
    credential: dict[str, Any],
    context: RequestContext,
) -> SecurityInfo:
    """Consume the challenge and check the answer in a transaction of their own: what a
    refusal leaves (the used challenge, a suspect mark, its notices, the failure on the
    account's activity) is kept."""
    async with deps.uow() as uow:
        challenge = await _consume(deps, uow, challenge_id, purpose, flow_id)
        try:
            item = await prove(deps, uow, challenge, credential, context)
        except PasskeyRefused as refusal:
            await _record_refusal(deps, uow, challenge, credential, context, refusal)
            await uow.commit()
            deps.outbox_wakeup()
            raise
        await uow.commit()
    return item


async def _record_refusal(
    deps: Deps,
    uow: UnitOfWork,
    challenge: PasskeyChallenge,
    credential: dict[str, Any],
    context: RequestContext,
    refusal: PasskeyRefused,
) -> None:
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    item = (
        await uow.security_info.find_passkey(credential_id)
        if isinstance(credential_id, str)
        else None
    )
    account_id = challenge.account_id or (item.account_id if item else None)
    if account_id is None:
        return
    tag = (
        EventTag.SIGN_IN_FAILURE
        if challenge.purpose is PasskeyPurpose.SIGN_IN
        else EventTag.CODE_CHECK_FAILED
    )
    await activity.record(
        deps,
        uow,
        account_id,
        tag,
        context,
        outcome=refusal.code,
        method="passkey",
        purpose=challenge.purpose.value,
    )


async def signed_in_account(deps: Deps, item: SecurityInfo) -> Account:
    """The account a passkey sign-in opens, when it may be opened."""
    async with deps.uow() as uow:
        account = await _account(uow, item.account_id)
    if account.status is not AccountStatus.ACTIVE:
        raise PasskeyUnknown()
    if account.locked:
        raise AccountLocked()
    if account.password_reset_required:
        raise PasswordResetRequired()
    return account


async def step_up(
    deps: Deps,
    session: Session,
    authentication_id: str,
    credential: dict[str, Any],
    context: RequestContext,
) -> datetime:
    """Step up with a passkey: the session is privileged until the returned time."""
    await limit(deps, context)
    item = await answer(
        deps, authentication_id, PasskeyPurpose.STEP_UP, session.id, credential, context
    )
    async with deps.uow() as uow:
        current = await uow.sessions.get(session.id)
        if current is None or not current.is_live(deps.clock.now()):
            raise NotFound("This session ended; sign in again.")
        current.privileged_until = deps.clock.now() + deps.config.step_up_window
        await uow.sessions.update(current)
        await activity.record_item(
            deps,
            uow,
            EventTag.STEP_UP_SUCCESS,
            context,
            item,
        )
        await uow.commit()
    session.privileged_until = current.privileged_until
    assert current.privileged_until is not None
    return current.privileged_until
