"""Waiting periods: changes held 30 days, the freeze, notices, cancel, completion.

A pending change is written with its start notices in one transaction. A scheduled job
completes due changes; ``finish`` only succeeds while the row is still pending, so with
any number of workers each change completes (or is canceled) exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from secinfo.domain.dates import format_moment
from secinfo.domain.errors import (
    CodeNotSupported,
    NoPendingChange,
    NotFound,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import (
    Account,
    ChangeKind,
    ChangeStatus,
    InfoState,
    PendingChange,
    RequestContext,
    SecurityInfo,
    Session,
)
from secinfo.domain.verification import Purpose, Verification
from secinfo.ports import UnitOfWork
from secinfo.services import activity
from secinfo.services import verification as codes
from secinfo.services.deps import Deps, new_id
from secinfo.services.guards import ensure_unfrozen, require_privileged
from secinfo.services.messages import notify_contacts
from secinfo.services.securing import secure_account

SYSTEM = RequestContext()


def _language(account: Account) -> str:
    """``de-ch`` -> ``de``: the language part of the account's locale."""
    language = account.locale.split("-")[0].split("_")[0].lower()
    return language if language.isalpha() and len(language) <= 8 else "en"


def _notice_context(deps: Deps, change: PendingChange, account: Account) -> dict[str, object]:
    return {
        "change_kind": change.kind.value,
        "ends_at": format_moment(change.ends_at, account.locale),
        # The page opens in the message's language (?lang=, a language the pages have).
        "cancel_url": (
            f"{deps.config.public_url}/pending-changes/{change.id}?lang={_language(account)}"
        ),
        "change_id": change.id,
    }


async def start(
    deps: Deps,
    uow: UnitOfWork,
    account: Account,
    kind: ChangeKind,
    items: list[SecurityInfo],
    context: RequestContext,
    new_item: SecurityInfo | None = None,
) -> PendingChange:
    """Hold a change: the items go ``removal_pending``; every old contact is told."""
    await ensure_unfrozen(uow, account.id)
    now = deps.clock.now()
    policy = deps.config.waiting_period
    change = PendingChange(
        id=new_id("chg"),
        account_id=account.id,
        kind=kind,
        created_at=now,
        ends_at=now + policy.length,
        next_reminder_at=now + policy.reminder_every,
        item_ids=[item.id for item in items],
        new_item_id=new_item.id if new_item else None,
    )
    await uow.pending_changes.add(change)
    for item in items:
        item.state = InfoState.REMOVAL_PENDING
        await uow.security_info.update(item)
    await activity.record(
        deps,
        uow,
        account.id,
        EventTag.PENDING_CHANGE_STARTED,
        context,
        change_id=change.id,
        kind=kind.value,
        ends_at=change.ends_at.isoformat(),
    )
    await notify_contacts(
        deps, uow, account, "pending_change_started", _notice_context(deps, change, account)
    )
    return change


async def current(deps: Deps, account_id: str) -> PendingChange | None:
    async with deps.uow() as uow:
        return await uow.pending_changes.pending_for_account(account_id)


async def cancel_change(
    deps: Deps,
    uow: UnitOfWork,
    change: PendingChange,
    context: RequestContext,
    not_me: bool,
    by: dict[str, Any] | None = None,
) -> None:
    """Cancel inside the caller's transaction: the items come back; the contacts are told.
    ``by``: an operator's details for the activity event, when an operator cancels."""
    now = deps.clock.now()
    change.status = ChangeStatus.CANCELED
    change.canceled_at = now
    if not await uow.pending_changes.finish(change):
        raise NoPendingChange("This change has already ended.")
    for item_id in change.item_ids:
        item = await uow.security_info.get(item_id)
        if item is not None and item.state is InfoState.REMOVAL_PENDING:
            item.state = InfoState.ACTIVE
            await uow.security_info.update(item)
    if change.new_item_id:
        new_item = await uow.security_info.get(change.new_item_id)
        if new_item is not None and new_item.state is InfoState.PENDING:
            new_item.state = InfoState.REMOVED
            new_item.removed_at = now
            new_item.sign_in = False
            await uow.security_info.update(new_item)
    await activity.record(
        deps,
        uow,
        change.account_id,
        EventTag.PENDING_CHANGE_CANCELED,
        context,
        change_id=change.id,
        not_me=not_me or None,
        **(by or {}),
    )
    account = await uow.accounts.get(change.account_id)
    if account is not None:
        await notify_contacts(
            deps, uow, account, "pending_change_canceled", _notice_context(deps, change, account)
        )
        if not_me:
            await secure_account(deps, uow, account, context)


async def cancel_with_session(
    deps: Deps, session: Session, context: RequestContext
) -> PendingChange:
    """Cancel from a signed-in, stepped-up session."""
    require_privileged(deps, session)
    async with deps.uow() as uow:
        change = await uow.pending_changes.pending_for_account(session.account_id)
        if change is None:
            raise NoPendingChange()
        await cancel_change(deps, uow, change, context, not_me=False)
        await uow.commit()
    deps.outbox_wakeup()
    return change


@dataclass(frozen=True)
class ChangeView:
    change: PendingChange
    old_contacts: list[SecurityInfo]


async def view(deps: Deps, change_id: str) -> ChangeView:
    """What a notice's link shows: the change and the old contacts a code can go to."""
    async with deps.uow() as uow:
        change = await uow.pending_changes.get(change_id)
        if change is None:
            raise NotFound("No pending change with that id.")
        items = [await uow.security_info.get(item_id) for item_id in change.item_ids]
    contacts = [item for item in items if item is not None and item.can_receive_codes]
    return ChangeView(change, contacts)


async def start_cancel_code(
    deps: Deps, change_id: str, security_info_id: str, *, client_ip: str | None
) -> Verification:
    """From a notice, without a session: a code to one of the old contacts."""
    async with deps.uow() as uow:
        change = await uow.pending_changes.get(change_id)
        if change is None or change.status is not ChangeStatus.PENDING:
            raise NoPendingChange("This change is no longer waiting; nothing to cancel.")
        if security_info_id not in change.item_ids:
            raise NotFound("Choose one of the contacts this change would remove.")
        item = await uow.security_info.get(security_info_id)
        if item is None or not item.can_receive_codes or item.channel is None:
            raise CodeNotSupported("That contact cannot receive codes any more.")
        verification = await codes.start_for_account(
            deps,
            uow,
            purpose=Purpose.CANCEL_CHANGE,
            channel=item.channel,
            destination=item.value,
            account_id=change.account_id,
            subject_id=change.id,
            client_ip=client_ip,
        )
        await uow.commit()
    deps.outbox_wakeup()
    return verification


async def cancel_with_code(
    deps: Deps,
    change_id: str,
    verification_id: str,
    code: str,
    context: RequestContext,
    *,
    not_me: bool = False,
) -> PendingChange:
    """Cancel with a code sent to an old contact; ``not_me`` also secures the account."""
    async with deps.uow() as uow:
        verification = await codes.load_for_holder(
            uow, verification_id, None, {Purpose.CANCEL_CHANGE}
        )
        if verification.subject_id != change_id:
            raise NotFound("That verification is not for this change.")
        outcome = await codes.check(deps, uow, verification, code)
        change = await uow.pending_changes.get(change_id)
        if outcome.valid:
            if change is None or change.status is not ChangeStatus.PENDING:
                raise NoPendingChange("This change is no longer waiting; nothing to cancel.")
            await cancel_change(deps, uow, change, context, not_me=not_me)
        await uow.commit()
    codes.raise_if_invalid(outcome)
    deps.outbox_wakeup()
    assert change is not None
    return change


async def _complete(deps: Deps, uow: UnitOfWork, change: PendingChange) -> bool:
    now = deps.clock.now()
    change.status = ChangeStatus.COMPLETED
    change.completed_at = now
    if not await uow.pending_changes.finish(change):
        return False  # another worker completed or someone canceled it first
    account = await uow.accounts.get(change.account_id)
    if account is None:
        return True
    old_contacts: list[SecurityInfo] = []
    for item_id in change.item_ids:
        item = await uow.security_info.get(item_id)
        if item is not None and item.state is InfoState.REMOVAL_PENDING:
            old_contacts.append(item)
            item.state = InfoState.REMOVED
            item.removed_at = now
            await uow.security_info.update(item)
    if change.new_item_id:
        new_item = await uow.security_info.get(change.new_item_id)
        if new_item is not None and new_item.state is InfoState.PENDING:
            new_item.state = InfoState.ACTIVE
            await uow.security_info.update(new_item)
    await activity.record(
        deps, uow, account.id, EventTag.PENDING_CHANGE_COMPLETED, SYSTEM, change_id=change.id
    )
    await notify_contacts(
        deps,
        uow,
        account,
        "pending_change_ended",
        _notice_context(deps, change, account),
        also=tuple(old_contacts),
    )
    return True


async def complete_due(deps: Deps, limit: int = 100) -> int:
    """The scheduled job: complete every change whose waiting period is over."""
    async with deps.uow() as uow:
        due = await uow.pending_changes.due(deps.clock.now(), limit)
    completed = 0
    for candidate in due:
        async with deps.uow() as uow:
            change = await uow.pending_changes.get(candidate.id)
            if change is None or change.status is not ChangeStatus.PENDING:
                continue
            if await _complete(deps, uow, change):
                await uow.commit()
                completed += 1
    if completed:
        deps.outbox_wakeup()
    return completed


async def send_due_reminders(deps: Deps, limit: int = 100) -> int:
    """The scheduled job: a reminder to every old contact every 7 days while waiting."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        due = await uow.pending_changes.reminders_due(now, limit)
    sent = 0
    for change in due:
        async with deps.uow() as uow:
            previous = change.next_reminder_at
            while change.next_reminder_at <= now:  # one reminder, however late the job runs
                change.next_reminder_at += deps.config.waiting_period.reminder_every
            if not await uow.pending_changes.move_reminder(change, previous):
                continue
            account = await uow.accounts.get(change.account_id)
            if account is not None:
                await notify_contacts(
                    deps,
                    uow,
                    account,
                    "pending_change_reminder",
                    _notice_context(deps, change, account),
                )
                await activity.record(
                    deps,
                    uow,
                    account.id,
                    EventTag.PENDING_CHANGE_REMINDED,
                    SYSTEM,
                    change_id=change.id,
                    kind=change.kind.value,
                    ends_at=change.ends_at.isoformat(),
                )
            await uow.commit()
            sent += 1
    if sent:
        deps.outbox_wakeup()
    return sent


async def resend_cancel_code(
    deps: Deps, change_id: str, verification_id: str, *, client_ip: str | None
) -> Verification:
    """I didn't get a code, on the cancel page of a notice."""
    async with deps.uow() as uow:
        verification = await codes.load_for_holder(
            uow, verification_id, None, {Purpose.CANCEL_CHANGE}
        )
        if verification.subject_id != change_id:
            raise NotFound("That verification is not for this change.")
        await codes.resend_in(deps, uow, verification, client_ip=client_ip)
        await uow.commit()
    deps.outbox_wakeup()
    return verification
