"""An opaque per-account billing profile that integrators keep here, so the §5 freeze on
billing changes while a security-info change waits is real."""

from __future__ import annotations

import json
from datetime import datetime

from secinfo.domain.errors import InvalidInput, NotFound
from secinfo.domain.events import EventTag
from secinfo.domain.model import RequestContext
from secinfo.services import activity
from secinfo.services.deps import Deps
from secinfo.services.guards import ensure_unfrozen

MAX_PROFILE_BYTES = 16 * 1024


async def get(deps: Deps, account_id: str) -> tuple[dict[str, object], datetime | None]:
    async with deps.uow() as uow:
        if await uow.accounts.get(account_id) is None:
            raise NotFound("No account with that id.")
        found = await uow.billing.get(account_id)
    return found if found else ({}, None)


async def put(
    deps: Deps, account_id: str, profile: dict[str, object], context: RequestContext
) -> datetime:
    if len(json.dumps(profile)) > MAX_PROFILE_BYTES:
        raise InvalidInput(f"A billing profile may hold at most {MAX_PROFILE_BYTES // 1024} KiB.")
    now = deps.clock.now()
    async with deps.uow() as uow:
        if await uow.accounts.get(account_id) is None:
            raise NotFound("No account with that id.")
        await ensure_unfrozen(uow, account_id)
        await uow.billing.put(account_id, profile, now)
        await activity.record(deps, uow, account_id, EventTag.BILLING_UPDATED, context)
        await uow.commit()
    return now
