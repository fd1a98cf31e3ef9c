"""Operators' view of the SMS-pumping guard: blocked prefixes, and lifting a block."""

from __future__ import annotations

from secinfo.domain.errors import NotFound
from secinfo.domain.model import PrefixBlock
from secinfo.services.deps import Deps


async def blocked(deps: Deps) -> list[PrefixBlock]:
    async with deps.uow() as uow:
        return await uow.prefix_blocks.list_active(deps.clock.now())


async def unblock(deps: Deps, prefix: str) -> int:
    """Lift the active block on ``prefix`` (as listed, e.g. ``+2348031``)."""
    async with deps.uow() as uow:
        lifted = await uow.prefix_blocks.lift(prefix.strip(), deps.clock.now())
        if not lifted:
            raise NotFound(f"No active block on {prefix}; 'secinfo fraud list' shows them.")
        await uow.commit()
    return lifted
