"""Recent activity: append-only events written in the caller's transaction.

Every event goes through :func:`record`, which also queues it for the webhook endpoints
subscribed to its type, in the same transaction: an event is never recorded without its
webhooks, nor a webhook sent for an event that was rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from secinfo.domain.events import OPERATOR_WAYS, EventTag
from secinfo.domain.model import ActivityEvent, InfoState, RequestContext, SecurityInfo
from secinfo.ports import UnitOfWork
from secinfo.services import webhooks
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
    event = ActivityEvent(
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
    await uow.activity.add(event)
    await webhooks.fan_out(deps, uow, event)


async def record_item(
    deps: Deps,
    uow: UnitOfWork,
    tag: EventTag,
    context: RequestContext,
    item: SecurityInfo,
    *,
    outcome: str = "success",
    **details: Any,
) -> None:
    """An event about one item of security info, on its account: names the item (id,
    kind and its label or masked value) the same way everywhere."""
    await record(
        deps,
        uow,
        item.account_id,
        tag,
        context,
        outcome=outcome,
        item_id=item.id,
        kind=item.kind.value,
        label=item.display_name,
        **details,
    )


async def recent(
    deps: Deps, account_id: str, limit: int = 50, before: str | None = None
) -> list[ActivityEvent]:
    async with deps.uow() as uow:
        return await uow.activity.list_for_account(account_id, min(max(limit, 1), 200), before)


@dataclass(frozen=True)
class ActivityEntry:
    """An event as the holder reads it: with the security info it is about, if any
    (removed items included, so "Security info removed" can say which)."""

    event: ActivityEvent
    item: SecurityInfo | None = None

    @property
    def by_operator(self) -> bool:
        """An administrator did it (admin API, operator pages or CLI), not the holder."""
        return self.event.details.get("by") in OPERATOR_WAYS

    @property
    def outcome(self) -> str:
        """The event's outcome as of now: an add that waited for its code and was since
        verified is no longer "pending"."""
        item = self.item
        if self.event.outcome == "pending" and item and item.state is not InfoState.PENDING:
            return "success"
        return self.event.outcome


async def recent_entries(
    deps: Deps, account_id: str, limit: int = 50, before: str | None = None
) -> list[ActivityEntry]:
    async with deps.uow() as uow:
        events = await uow.activity.list_for_account(account_id, min(max(limit, 1), 200), before)
        items: dict[str, SecurityInfo] = {}
        for item_id in {
            str(event.details["item_id"]) for event in events if "item_id" in event.details
        }:
            item = await uow.security_info.get(item_id)  # removed items too
            if item is not None and item.account_id == account_id:
                items[item.id] = item
    return [ActivityEntry(event, items.get(str(event.details.get("item_id")))) for event in events]


async def purge_old(deps: Deps) -> int:
    """The scheduled job: recent activity is kept for the retention period (30 days)."""
    async with deps.uow() as uow:
        purged = await uow.activity.purge_before(deps.clock.now() - deps.config.activity_retention)
        await uow.commit()
    return purged
