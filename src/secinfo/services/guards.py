"""Checks shared by every service that changes security settings."""

from __future__ import annotations

from secinfo.domain.errors import SecurityInfoChangePending, StepUpRequired
from secinfo.domain.model import Session
from secinfo.ports import UnitOfWork
from secinfo.services.deps import Deps


def require_privileged(deps: Deps, session: Session) -> None:
    """Step-up: the session checked a code within the privileged window."""
    if not session.is_privileged(deps.clock.now()):
        raise StepUpRequired()


async def ensure_unfrozen(uow: UnitOfWork, account_id: str) -> None:
    """Refuse a change to security settings or billing while a change waits."""
    change = await uow.pending_changes.pending_for_account(account_id)
    if change is not None:
        raise SecurityInfoChangePending(change.ends_at, change.id)
