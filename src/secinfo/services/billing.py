"""An opaque per-account billing profile that integrators keep here, so the waiting-period freeze on
billing changes while a security-info change waits is real."""

from __future__ import annotations

import json
import math
from datetime import datetime

from secinfo.domain.errors import InvalidInput, NotFound
from secinfo.domain.events import EventTag
from secinfo.domain.model import RequestContext
from secinfo.domain.text import bad_character, describe
from secinfo.services import activity
from secinfo.services.deps import Deps
from secinfo.services.guards import ensure_unfrozen

MAX_PROFILE_BYTES = 16 * 1024
MAX_DEPTH = 32


def check_profile(value: object, where: str = "profile", depth: int = 0) -> None:
    """Refuse what JSON cannot carry back: numbers that are not finite (``NaN``,
    ``Infinity``, ``1e400``), text that is not Unicode (a lone surrogate) or carries
    control characters (tab and line breaks are fine), and nesting past 32 levels."""
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{where}: a billing profile nests at most {MAX_DEPTH} levels.")
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{where}: numbers must be finite (not NaN, Infinity or 1e400).")
        return
    if isinstance(value, str):
        found = bad_character(value, allow_line_breaks=True)
        if found:
            raise InvalidInput(
                f"{where}: text must be valid Unicode without control characters "
                f"(found {describe(found)})."
            )
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_profile(item, f"{where}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{where}: keys must be text.")
            found = bad_character(key)
            if found:
                raise InvalidInput(
                    f"{where}: keys must be valid Unicode without control characters "
                    f"(found {describe(found)})."
                )
            check_profile(item, f"{where}.{key}", depth + 1)
        return
    raise InvalidInput(
        f"{where}: only JSON values (text, numbers, true/false, null, lists, objects)."
    )


async def get(deps: Deps, account_id: str) -> tuple[dict[str, object], datetime | None]:
    async with deps.uow() as uow:
        if await uow.accounts.get(account_id) is None:
            raise NotFound("No account with that id.")
        found = await uow.billing.get(account_id)
    return found if found else ({}, None)


async def put(
    deps: Deps, account_id: str, profile: dict[str, object], context: RequestContext
) -> datetime:
    check_profile(profile)
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
