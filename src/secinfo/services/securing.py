"""Securing an account: what "this wasn't me" does, wherever it is said."""

from __future__ import annotations

from secinfo.domain.events import EventTag
from secinfo.domain.model import Account, RequestContext
from secinfo.ports import UnitOfWork
from secinfo.services import activity
from secinfo.services.deps import Deps
from secinfo.services.messages import notify_contacts


async def secure_account(
    deps: Deps, uow: UnitOfWork, account: Account, context: RequestContext
) -> int:
    """Every session ends; the next sign-in must reset the password through recovery."""
    revoked = await uow.sessions.revoke_all(account.id, deps.clock.now())
    account.password_reset_required = True
    await uow.accounts.update(account)
    await activity.record(
        deps, uow, account.id, EventTag.ACCOUNT_SECURED, context, sessions=revoked
    )
    await notify_contacts(deps, uow, account, "account_secured", {})
    return revoked
