"""Recent activity (§8): append-only events written in the caller's transaction."""

from __future__ import annotations

from typing import Any

from secinfo.domain.events import EventTag
from secinfo.domain.model import ActivityEvent, RequestContext
from secinfo.ports import UnitOfWork
from secinfo.services.deps import Deps, new_id


async def record(
    deps: Deps,
    uow: UnitOfWork,
    account_id: str,
    tag: EventTag,
    context: RequestContext,
    *,
    outcome: str = "success",
    **details: Any,
) -> None:
    await uow.activity.add(
        ActivityEvent(
            id=new_id("evt"),
            account_id=account_id,
            type=tag.value,
            created_at=deps.clock.now(),
            outcome=outcome,
            ip=context.ip,
            user_agent=context.user_agent,
            country=deps.countries.country(context.ip),
            details={key: value for key, value in details.items() if value is not None},
        )
    )


async def recent(
    deps: Deps, account_id: str, limit: int = 50, before: str | None = None
) -> list[ActivityEvent]:
    async with deps.uow() as uow:
        return await uow.activity.list_for_account(account_id, min(max(limit, 1), 200), before)


async def purge_old(deps: Deps) -> int:
    """The scheduled job: recent activity is kept for the retention period (30 days)."""
    async with deps.uow() as uow:
        purged = await uow.activity.purge_before(deps.clock.now() - deps.config.activity_retention)
        await uow.commit()
    return purged
