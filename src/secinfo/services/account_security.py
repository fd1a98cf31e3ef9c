"""What Security basics shows (one read), saying "this wasn't me" on recent activity,
and 2-step verification on/off."""

from __future__ import annotations

from dataclasses import dataclass

from secinfo.domain.errors import NotFound, TwoStepNeedsTwoKinds
from secinfo.domain.events import EventTag
from secinfo.domain.model import (
    InfoKind,
    InfoState,
    PendingChange,
    RequestContext,
    SecurityInfo,
    Session,
)
from secinfo.services import activity, pending_changes
from secinfo.services.deps import Deps
from secinfo.services.guards import ensure_unfrozen, require_privileged
from secinfo.services.messages import notify_contacts
from secinfo.services.securing import secure_account


@dataclass(frozen=True)
class SecurityOverview:
    """Everything Security basics shows, read in one transaction."""

    items: list[SecurityInfo]  # every item that is not removed
    two_step: bool
    pending_change: PendingChange | None


async def overview(deps: Deps, account_id: str) -> SecurityOverview:
    async with deps.uow() as uow:
        account = await uow.accounts.get(account_id)
        items = await uow.security_info.list_for_account(account_id)
        change = await uow.pending_changes.pending_for_account(account_id)
    return SecurityOverview(
        items=[item for item in items if item.state is not InfoState.REMOVED],
        two_step=account is not None and account.two_step_enabled,
        pending_change=change,
    )


async def report_not_me(
    deps: Deps, session: Session, event_id: str, context: RequestContext
) -> int:
    """This wasn't me on a recent-activity event: cancel what it started, secure it."""
    async with deps.uow() as uow:
        event = await uow.activity.get(event_id)
        account = await uow.accounts.get(session.account_id)
        if event is None or account is None or event.account_id != session.account_id:
            raise NotFound("No activity event with that id on your account.")
        change = await uow.pending_changes.pending_for_account(account.id)
        if change is not None and event.details.get("change_id") == change.id:
            await pending_changes.cancel_change(deps, uow, change, context, not_me=False)
        revoked = await secure_account(deps, uow, account, context)
        await uow.commit()
    deps.outbox_wakeup()
    return revoked


async def set_two_step(
    deps: Deps, session: Session, enabled: bool, context: RequestContext
) -> bool:
    """Turn 2-step verification on (needs two kinds of security info) or off."""
    require_privileged(deps, session)
    async with deps.uow() as uow:
        await ensure_unfrozen(uow, session.account_id)
        account = await uow.accounts.get(session.account_id)
        if account is None:
            raise NotFound("No such account.")
        if account.two_step_enabled == enabled:
            return enabled
        if enabled:
            items = await uow.security_info.list_for_account(account.id)
            kinds = {
                item.kind
                for item in items
                if item.state is InfoState.ACTIVE and item.kind is not InfoKind.RECOVERY_CODE
            }
            if len(kinds) < 2:
                raise TwoStepNeedsTwoKinds()
        account.two_step_enabled = enabled
        await uow.accounts.update(account)
        tag = EventTag.TWO_STEP_ENABLED if enabled else EventTag.TWO_STEP_DISABLED
        await activity.record(deps, uow, account.id, tag, context)
        template = "two_step_enabled" if enabled else "two_step_disabled"
        await notify_contacts(deps, uow, account, template, {})
        await uow.commit()
    deps.outbox_wakeup()
    return enabled


async def two_step_enabled(deps: Deps, account_id: str) -> bool:
    async with deps.uow() as uow:
        account = await uow.accounts.get(account_id)
    return account is not None and account.two_step_enabled
