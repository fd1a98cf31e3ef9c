"""Authenticator apps and the recovery code as security info.

Both are proved by a code the holder has rather than one that is sent: one call checks
it. Wrong codes count against the same per-account limits as sent codes
(``code.check.*``). An authenticator's time step is accepted once; the recovery code is
consumed by its use and replaced by a new one, returned once.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from secinfo.domain import authenticators as totp
from secinfo.domain.errors import (
    AlreadyRegistered,
    CodeNotSupported,
    InvalidCode,
    InvalidInput,
    NotFound,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import (
    Account,
    InfoKind,
    InfoState,
    RequestContext,
    SecurityInfo,
    Session,
    clean_label,
)
from secinfo.ports import UnitOfWork
from secinfo.services import abuse, activity
from secinfo.services.deps import Deps, new_id
from secinfo.services.guards import ensure_unfrozen, require_privileged
from secinfo.services.messages import masked_account_name, notify_contacts
from secinfo.services.security_info import activate

MAX_AUTHENTICATORS = 5


@dataclass(frozen=True)
class Enrollment:
    """A new authenticator, pending until a code from the app is typed back."""

    item: SecurityInfo
    secret: str
    otpauth_uri: str


@dataclass(frozen=True)
class RecoveryCodeIssued:
    item: SecurityInfo
    code: str  # shown once


@dataclass(frozen=True)
class Proof:
    """A held code that was right; ``new_recovery_code`` replaces a used recovery code."""

    item: SecurityInfo
    new_recovery_code: str | None = None


def recovery_code_hash(deps: Deps, item_id: str, code: str) -> str:
    return deps.codes.hash(f"recovery-code:{item_id}", code)


async def open_for_adding(deps: Deps, uow: UnitOfWork, session: Session) -> list[SecurityInfo]:
    """The add rules shared with emails and phones: step-up once the account holds info
    that can prove it's the holder; refused while a change waits."""
    items = await uow.security_info.list_for_account(session.account_id)
    if any(item.can_prove for item in items):
        require_privileged(deps, session)
    await ensure_unfrozen(uow, session.account_id)
    return items


async def add_authenticator(
    deps: Deps, session: Session, label: str | None, context: RequestContext
) -> Enrollment:
    cleaned = clean_label(label)
    now = deps.clock.now()
    async with deps.uow() as uow:
        items = await open_for_adding(deps, uow, session)
        authenticators = [item for item in items if item.kind is InfoKind.AUTHENTICATOR]
        for stale in authenticators:  # an earlier unfinished enrolment is dropped
            if stale.state is InfoState.PENDING:
                stale.state = InfoState.REMOVED
                stale.removed_at = now
                await uow.security_info.update(stale)
        if sum(item.state is not InfoState.PENDING for item in authenticators) >= (
            MAX_AUTHENTICATORS
        ):
            raise InvalidInput(
                f"An account may hold at most {MAX_AUTHENTICATORS} authenticator apps; "
                "remove one you no longer use first."
            )
        secret = totp.new_secret()
        item = SecurityInfo(
            id=new_id("inf"),
            account_id=session.account_id,
            kind=InfoKind.AUTHENTICATOR,
            value="",
            state=InfoState.PENDING,
            added_at=now,
            label=cleaned,
            secret=secret,
        )
        await uow.security_info.add(item)
        await activity.record_item(
            deps,
            uow,
            EventTag.SECURITY_INFO_ADDED,
            context,
            item,
            outcome="pending",
        )
        uri = totp.otpauth_uri(secret, masked_account_name(items), deps.config.product_name)
        await uow.commit()
    return Enrollment(item, secret, uri)


async def activate_authenticator(
    deps: Deps, session: Session, item_id: str, code: str, context: RequestContext
) -> SecurityInfo:
    """The first code from the app makes the authenticator active; every contact is told."""
    async with deps.uow() as uow:
        await ensure_unfrozen(uow, session.account_id)
        item = await uow.security_info.get(item_id)
        if item is None or item.account_id != session.account_id or item.state is InfoState.REMOVED:
            raise NotFound("No security info with that id on your account.")
        if item.kind is not InfoKind.AUTHENTICATOR:
            raise InvalidInput("Send the verification_id of the code sent to this contact.")
        if item.state is not InfoState.PENDING:
            raise AlreadyRegistered("This authenticator app is already active.")
        valid = await _check_authenticator(deps, uow, item, code)
        if valid:
            await activate(deps, uow, item, context)
        else:
            await _record_failure(deps, uow, item.account_id, context, "add_info")
        await uow.commit()
    if not valid:
        raise InvalidCode("That code is not right. Type the code your app shows now.")
    deps.outbox_wakeup()
    return item


async def issue_recovery_code(
    deps: Deps, session: Session, context: RequestContext
) -> RecoveryCodeIssued:
    """One recovery code per account: a new one replaces the old."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        items = await open_for_adding(deps, uow, session)
        account = await _account(uow, session.account_id)
        current = next((item for item in items if item.kind is InfoKind.RECOVERY_CODE), None)
        if current is not None and current.state is not InfoState.ACTIVE:
            raise InvalidInput("Your recovery code is part of a change that waits.")
        code = totp.new_recovery_code()
        if current is None:
            item = SecurityInfo(
                id=new_id("inf"),
                account_id=session.account_id,
                kind=InfoKind.RECOVERY_CODE,
                value="",
                state=InfoState.ACTIVE,
                added_at=now,
                verified_at=now,
            )
            item.secret = recovery_code_hash(deps, item.id, code)
            await uow.security_info.add(item)
            tag, template = EventTag.SECURITY_INFO_ADDED, "security_info_added"
            notice: dict[str, object] = {"kind": item.kind.value, "added": item.display_name}
        else:
            item = current
            if not await uow.security_info.replace_secret(
                item, item.secret, recovery_code_hash(deps, item.id, code)
            ):
                raise InvalidCode("Your recovery code changed meanwhile; ask again.")
            item.verified_at = now
            await uow.security_info.update(item)
            tag, template = EventTag.RECOVERY_CODE_REPLACED, "recovery_code_replaced"
            notice = {}
        await activity.record_item(deps, uow, tag, context, item)
        await notify_contacts(deps, uow, account, template, notice)
        await uow.commit()
    deps.outbox_wakeup()
    return RecoveryCodeIssued(item, code)


async def _account(uow: UnitOfWork, account_id: str) -> Account:
    account = await uow.accounts.get(account_id)
    if account is None:
        raise NotFound("No such account.")
    return account


async def _check_authenticator(deps: Deps, uow: UnitOfWork, item: SecurityInfo, code: str) -> bool:
    subject = item.account_id
    await abuse.before_subject_check(deps, subject)
    step = totp.matching_step(item.secret or "", code, deps.clock.now(), item.last_step)
    valid = step is not None and await uow.security_info.claim_step(item, step)
    await abuse.after_subject_check(deps, subject, valid)
    return valid


async def _record_failure(
    deps: Deps, uow: UnitOfWork, account_id: str, context: RequestContext, purpose: str
) -> None:
    await activity.record(
        deps,
        uow,
        account_id,
        EventTag.CODE_CHECK_FAILED,
        context,
        outcome="wrong_code",
        purpose=purpose,
    )


async def prove(
    deps: Deps,
    uow: UnitOfWork,
    item: SecurityInfo,
    code: str,
    context: RequestContext,
    purpose: str,
) -> Proof | None:
    """Check a held code inside the caller's transaction; None when it is wrong (the
    failure is recorded: the caller commits, then refuses). A right recovery code is
    consumed and replaced; every contact is told it was used."""
    if not item.kind.holds_secret:
        raise CodeNotSupported("Ask for a code to be sent to this contact first.")
    if not item.can_prove:
        raise NotFound("No active security info with that id on your account.")
    now = deps.clock.now()
    new_code: str | None = None
    if item.kind is InfoKind.AUTHENTICATOR:
        valid = await _check_authenticator(deps, uow, item, code)
    else:
        await abuse.before_subject_check(deps, item.account_id)
        expected = recovery_code_hash(deps, item.id, code)
        valid = hmac.compare_digest(expected, item.secret or "")
        if valid:
            new_code = totp.new_recovery_code()
            valid = await uow.security_info.replace_secret(
                item, expected, recovery_code_hash(deps, item.id, new_code)
            )
        await abuse.after_subject_check(deps, item.account_id, valid)
    if not valid:
        await _record_failure(deps, uow, item.account_id, context, purpose)
        return None
    item.last_used_at = now
    await uow.security_info.update(item)
    if new_code is not None:
        await activity.record_item(
            deps,
            uow,
            EventTag.RECOVERY_CODE_USED,
            context,
            item,
            purpose=purpose,
        )
        account = await uow.accounts.get(item.account_id)
        if account is not None:
            await notify_contacts(deps, uow, account, "recovery_code_used", {})
    return Proof(item, new_code)


def refuse(item: SecurityInfo) -> InvalidCode:
    if item.kind is InfoKind.AUTHENTICATOR:
        return InvalidCode(
            "That code is not right, or it was used already. Type the code your app shows now."
        )
    return InvalidCode("That recovery code is not right, or it was used already.")
