"""Managing security info: list, add with a code, label, remove, sign-in names."""

from __future__ import annotations

from dataclasses import dataclass

from secinfo.domain.contacts import Channel, same_contact
from secinfo.domain.errors import (
    AlreadyRegistered,
    InvalidInput,
    LastSignInName,
    NotFound,
    NotVerifiedYet,
    SignInNameTaken,
    TwoStepNeedsTwoKinds,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import (
    ChangeKind,
    InfoKind,
    InfoState,
    PendingChange,
    RequestContext,
    SecurityInfo,
    Session,
    clean_label,
    contact_for,
)
from secinfo.domain.verification import Purpose, Verification
from secinfo.ports import UnitOfWork
from secinfo.services import activity, pending_changes
from secinfo.services import verification as codes
from secinfo.services.deps import Deps, new_id
from secinfo.services.guards import ensure_unfrozen, require_privileged
from secinfo.services.messages import masked_account_name, notify_contacts

MAX_ITEMS_PER_ACCOUNT = 20


@dataclass(frozen=True)
class AddStarted:
    item: SecurityInfo
    verification: Verification


@dataclass(frozen=True)
class Removal:
    """Either the item is gone now, or its removal waits (the last that receives codes)."""

    item: SecurityInfo
    pending_change: PendingChange | None = None


async def list_info(deps: Deps, account_id: str) -> list[SecurityInfo]:
    async with deps.uow() as uow:
        return await uow.security_info.list_for_account(account_id)


async def get_own(deps: Deps, session: Session, item_id: str) -> SecurityInfo:
    """One of the session's account's items that is not removed, else ``NotFound``."""
    async with deps.uow() as uow:
        return await _owned_item(uow, session, item_id)


async def _owned_item(
    uow: UnitOfWork, session: Session, item_id: str, *, allow_removed: bool = False
) -> SecurityInfo:
    item = await uow.security_info.get(item_id)
    gone = item is not None and item.state is InfoState.REMOVED and not allow_removed
    if item is None or item.account_id != session.account_id or gone:
        raise NotFound("No security info with that id on your account.")
    return item


async def activate(
    deps: Deps, uow: UnitOfWork, item: SecurityInfo, context: RequestContext
) -> None:
    """The item proved itself: active now, recorded, and every contact is told."""
    now = deps.clock.now()
    item.state = InfoState.ACTIVE
    item.verified_at = now
    item.last_used_at = now
    await uow.security_info.update(item)
    await activity.record(
        deps,
        uow,
        item.account_id,
        EventTag.SECURITY_INFO_VERIFIED,
        context,
        item_id=item.id,
        kind=item.kind.value,
        label=item.display_name if item.channel is None else None,
    )
    account = await uow.accounts.get(item.account_id)
    if account is not None:
        await notify_contacts(
            deps,
            uow,
            account,
            "security_info_added",
            {"kind": item.kind.value, "added": item.display_name},
            exclude=(item.id,),  # it just proved itself
        )


async def add_pending_with_code(
    deps: Deps,
    uow: UnitOfWork,
    account_id: str,
    flow_id: str,
    kind: InfoKind,
    contact: tuple[Channel, str],
    label: str | None,
    purpose: Purpose,
    client_ip: str | None,
) -> tuple[SecurityInfo, Verification]:
    """A new item, pending until the code sent to it now is typed back. ``flow_id`` is
    the session (or sign-in challenge) that must still be live to finish it."""
    channel, normalized = contact
    item = SecurityInfo(
        id=new_id("inf"),
        account_id=account_id,
        kind=kind,
        value=normalized,
        state=InfoState.PENDING,
        added_at=deps.clock.now(),
        label=label,
    )
    await uow.security_info.add(item)
    verification = await codes.start_for_account(
        deps,
        uow,
        purpose=purpose,
        channel=channel,
        destination=normalized,
        account_id=account_id,
        subject_id=item.id,
        session_id=flow_id,
        client_ip=client_ip,
    )
    return item, verification


async def add(
    deps: Deps,
    session: Session,
    kind: InfoKind,
    value: str,
    label: str | None,
    context: RequestContext,
) -> AddStarted:
    """Add an email or phone; it becomes active once the code sent to it is typed back."""
    contact = contact_for(kind, value)
    normalized = contact[1]
    label = clean_label(label)
    now = deps.clock.now()
    async with deps.uow() as uow:
        items = await uow.security_info.list_for_account(session.account_id)
        if any(item.can_prove for item in items):
            require_privileged(deps, session)
        await ensure_unfrozen(uow, session.account_id)
        same = [
            item for item in items if item.kind is kind and same_contact(item.value, normalized)
        ]
        if any(item.state is not InfoState.PENDING for item in same):
            raise AlreadyRegistered()
        if len(items) - len(same) >= MAX_ITEMS_PER_ACCOUNT:
            raise InvalidInput(
                f"An account may hold at most {MAX_ITEMS_PER_ACCOUNT} security info items; "
                "remove one you no longer use first."
            )
        for stale in same:  # an earlier unfinished add of the same value is replaced
            stale.state = InfoState.REMOVED
            stale.removed_at = now
            await uow.security_info.update(stale)
        item, verification = await add_pending_with_code(
            deps,
            uow,
            session.account_id,
            session.id,
            kind,
            contact,
            label,
            Purpose.ADD_INFO,
            context.ip,
        )
        await activity.record(
            deps,
            uow,
            session.account_id,
            EventTag.SECURITY_INFO_ADDED,
            context,
            outcome="pending",
            item_id=item.id,
            kind=kind.value,
        )
        await uow.commit()
    deps.outbox_wakeup()
    return AddStarted(item, verification)


async def confirm_add(
    deps: Deps,
    session: Session,
    item_id: str,
    verification_id: str,
    code: str,
    context: RequestContext,
) -> SecurityInfo:
    """Type back the code sent to the new contact; every other contact is told."""
    async with deps.uow() as uow:
        await ensure_unfrozen(uow, session.account_id)
        item = await _owned_item(uow, session, item_id)
        verification = await codes.load_for_holder(
            uow, verification_id, session.account_id, {Purpose.ADD_INFO}
        )
        if verification.subject_id != item.id:
            raise NotFound("That verification does not belong to this security info.")
        outcome = await _check_add_code(deps, uow, item, verification, code, context)
        await uow.commit()
    codes.raise_if_invalid(outcome)
    deps.outbox_wakeup()
    return item


@dataclass(frozen=True)
class AddedByFlow:
    item: SecurityInfo
    account_name: str  # the account the info was added to, as messages name it (masked)


async def confirm_add_by_flow(
    deps: Deps, item_id: str, verification_id: str, code: str, context: RequestContext
) -> AddedByFlow:
    """Finish an add from its own page when the browser's session is no longer the
    holder's ("verifying with another account": the person signed in to the other
    account in another tab to read the code).

    The flow authorises it, not the cookie: the verification id only the holder's page
    carries (128 random bits), an open add-info verification of that very item, started
    by a session that is still live, and the code sent to the new contact. Wrong codes
    count as on the holder's own path; nothing else of the account is read or changed.
    """
    async with deps.uow() as uow:
        item, verification = await _add_flow(deps, uow, item_id, verification_id)
        await ensure_unfrozen(uow, item.account_id)
        outcome = await _check_add_code(deps, uow, item, verification, code, context)
        items = await uow.security_info.list_for_account(item.account_id)
        await uow.commit()
    codes.raise_if_invalid(outcome)
    deps.outbox_wakeup()
    return AddedByFlow(item, masked_account_name(items))


async def resend_add_by_flow(
    deps: Deps, item_id: str, verification_id: str, *, client_ip: str | None
) -> Verification:
    """I didn't get a code, on the same terms as :func:`confirm_add_by_flow`: a new code
    to the contact being added (cool-down, send ceiling and limits apply)."""
    async with deps.uow() as uow:
        _, verification = await _add_flow(deps, uow, item_id, verification_id)
        await codes.resend_in(deps, uow, verification, client_ip=client_ip)
        await uow.commit()
    deps.outbox_wakeup()
    return verification


async def _add_flow(
    deps: Deps, uow: UnitOfWork, item_id: str, verification_id: str
) -> tuple[SecurityInfo, Verification]:
    """The pending item and its add-info verification, when the flow is still the one
    its live session started; anything else is 'not found'."""
    verification = await codes.load_for_holder(uow, verification_id, None, {Purpose.ADD_INFO})
    item = await uow.security_info.get(item_id)
    started_by = (
        await uow.sessions.get(verification.session_id) if verification.session_id else None
    )
    if (
        item is None
        or verification.account_id is None
        or item.account_id != verification.account_id
        or verification.subject_id != item.id
        or item.state is not InfoState.PENDING
        or started_by is None
        or started_by.account_id != item.account_id
        or not started_by.is_live(deps.clock.now())
    ):
        raise NotFound("No verification with that id is waiting for you.")
    return item, verification


async def _check_add_code(
    deps: Deps,
    uow: UnitOfWork,
    item: SecurityInfo,
    verification: Verification,
    code: str,
    context: RequestContext,
) -> codes.CheckOutcome:
    """Check the code; a right one makes the item active and tells every other contact."""
    outcome = await codes.check(deps, uow, verification, code)
    if outcome.valid:
        await activate(deps, uow, item, context)
    else:
        await activity.record(
            deps,
            uow,
            item.account_id,
            EventTag.CODE_CHECK_FAILED,
            context,
            outcome="wrong_code",
            purpose=Purpose.ADD_INFO.value,
        )
    return outcome


async def update_label(
    deps: Deps, session: Session, item_id: str, label: str | None, context: RequestContext
) -> SecurityInfo:
    cleaned = clean_label(label)
    async with deps.uow() as uow:
        await ensure_unfrozen(uow, session.account_id)
        item = await _owned_item(uow, session, item_id)
        item.label = cleaned
        await uow.security_info.update(item)
        await activity.record(
            deps,
            uow,
            session.account_id,
            EventTag.SECURITY_INFO_UPDATED,
            context,
            item_id=item.id,
        )
        await uow.commit()
    return item


async def remove(deps: Deps, session: Session, item_id: str, context: RequestContext) -> Removal:
    """Remove one item at once while other info that can receive codes remains; removing
    the last one waits 30 days. A sign-in name stays a sign-in name until it is
    switched off under sign-in options."""
    require_privileged(deps, session)
    async with deps.uow() as uow:
        await ensure_unfrozen(uow, session.account_id)
        item = await _owned_item(uow, session, item_id)
        items = await uow.security_info.list_for_account(session.account_id)
        account = await uow.accounts.get(session.account_id)
        if account is None:
            raise NotFound("No such account.")
        others = [other for other in items if other.id != item.id]
        if account.two_step_enabled and item.state is InfoState.ACTIVE:
            kinds_left = {
                other.kind
                for other in others
                if other.state is InfoState.ACTIVE and other.kind is not InfoKind.RECOVERY_CODE
            }
            if len(kinds_left) < 2:
                raise TwoStepNeedsTwoKinds(
                    "2-step verification needs two kinds of security info: turn it off "
                    "first, or add another kind, then remove this one."
                )
        if item.can_prove and not any(other.can_prove for other in others):
            change = await pending_changes.start(
                deps, uow, account, ChangeKind.REMOVE_INFO, [item], context
            )
            await uow.commit()
            deps.outbox_wakeup()
            return Removal(item, change)
        was_active = item.state is InfoState.ACTIVE
        item.state = InfoState.REMOVED
        item.removed_at = deps.clock.now()
        await uow.security_info.update(item)
        await activity.record_item(
            deps,
            uow,
            EventTag.SECURITY_INFO_REMOVED,
            context,
            item,
        )
        if was_active:
            await notify_contacts(
                deps,
                uow,
                account,
                "security_info_removed",
                {"kind": item.kind.value, "removed": item.display_name},
                also=(item,),
            )
        await uow.commit()
    deps.outbox_wakeup()
    return Removal(item)


async def remove_all(deps: Deps, session: Session, context: RequestContext) -> PendingChange:
    """Remove all security info ("remove all my security info"): held 30 days, old
    contacts warned."""
    require_privileged(deps, session)
    async with deps.uow() as uow:
        await ensure_unfrozen(uow, session.account_id)
        account = await uow.accounts.get(session.account_id)
        if account is None:
            raise NotFound("No such account.")
        items = [
            item
            for item in await uow.security_info.list_for_account(session.account_id)
            if item.state is InfoState.ACTIVE
        ]
        if not items:
            raise NotFound("There is no security info to remove.")
        change = await pending_changes.start(
            deps, uow, account, ChangeKind.REMOVE_ALL, items, context
        )
        await uow.commit()
    deps.outbox_wakeup()
    return change


async def set_sign_in(
    deps: Deps, session: Session, item_id: str, enabled: bool, context: RequestContext
) -> SecurityInfo:
    """Switch a verified email or phone on or off as a sign-in name (sign-in options)."""
    require_privileged(deps, session)
    async with deps.uow() as uow:
        await ensure_unfrozen(uow, session.account_id)
        item = await _owned_item(uow, session, item_id, allow_removed=True)
        if item.sign_in == enabled:
            return item
        if enabled and (item.state is not InfoState.ACTIVE or item.channel is None):
            raise NotVerifiedYet("Only a verified email or phone can be a sign-in name.")
        if enabled:
            holder = await uow.security_info.find_sign_in_name(item.value)
            if holder is not None and holder.account_id != item.account_id:
                raise SignInNameTaken()
        else:
            names = await uow.security_info.list_sign_in_names(session.account_id)
            if not any(other.id != item.id for other in names):
                raise LastSignInName()
        item.sign_in = enabled
        await uow.security_info.update(item)
        tag = EventTag.SIGN_IN_NAME_ENABLED if enabled else EventTag.SIGN_IN_NAME_DISABLED
        await activity.record(deps, uow, session.account_id, tag, context, item_id=item.id)
        await uow.commit()
    return item
