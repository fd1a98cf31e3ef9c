"""I don't have any of these: replace unreachable security info with a new contact.

The holder is signed in (password) but cannot receive codes at any current contact, so
cannot step up. The new contact is proved by a code sent to it; the swap then waits
30 days while every old contact is warned and can cancel it.
"""

from __future__ import annotations

from dataclasses import dataclass

from secinfo.domain.errors import NotFound
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
from secinfo.services.deps import Deps
from secinfo.services.guards import ensure_unfrozen
from secinfo.services.security_info import add_pending_with_code


@dataclass(frozen=True)
class ReplacementStarted:
    item: SecurityInfo
    verification: Verification


async def start(
    deps: Deps,
    session: Session,
    kind: InfoKind,
    value: str,
    label: str | None,
    context: RequestContext,
) -> ReplacementStarted:
    contact = contact_for(kind, value)
    async with deps.uow() as uow:
        await ensure_unfrozen(uow, session.account_id)
        item, verification = await add_pending_with_code(
            deps,
            uow,
            session.account_id,
            session.id,
            kind,
            contact,
            clean_label(label),
            Purpose.REPLACE_INFO,
            context.ip,
        )
        await uow.commit()
    deps.outbox_wakeup()
    return ReplacementStarted(item, verification)


async def confirm(
    deps: Deps,
    session: Session,
    verification_id: str,
    code: str,
    context: RequestContext,
) -> PendingChange | None:
    """Type back the code sent to the new contact. Returns the waiting change, or None
    when the account had no other contact to protect and the new one is active now."""
    async with deps.uow() as uow:
        verification = await codes.load_for_holder(
            uow, verification_id, session.account_id, {Purpose.REPLACE_INFO}
        )
        outcome = await codes.check(deps, uow, verification, code)
        change = None
        if outcome.valid:
            change = await hold_swap(
                deps, uow, session.account_id, verification.subject_id or "", context
            )
        await uow.commit()
    codes.raise_if_invalid(outcome)
    deps.outbox_wakeup()
    return change


async def hold_swap(
    deps: Deps, uow: UnitOfWork, account_id: str, item_id: str, context: RequestContext
) -> PendingChange | None:
    """The new contact is proved: hold the swap 30 days, or activate it at once when the
    account has no other contact to protect."""
    now = deps.clock.now()
    account = await uow.accounts.get(account_id)
    item = await uow.security_info.get(item_id)
    if account is None or item is None or item.state is not InfoState.PENDING:
        raise NotFound("This replacement has already ended; start again.")
    item.verified_at = now
    item.last_used_at = now
    old = [
        other
        for other in await uow.security_info.list_for_account(account.id)
        if other.id != item.id and other.state is InfoState.ACTIVE
    ]
    if not old:
        item.state = InfoState.ACTIVE
        await uow.security_info.update(item)
        await activity.record(
            deps, uow, account.id, EventTag.SECURITY_INFO_VERIFIED, context, item_id=item.id
        )
        return None
    await uow.security_info.update(item)
    return await pending_changes.start(
        deps, uow, account, ChangeKind.REPLACE_INFO, old, context, new_item=item
    )
