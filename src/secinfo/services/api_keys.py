"""Integrator API keys: shown once, stored as a hash."""

from __future__ import annotations

from dataclasses import dataclass

from secinfo.domain.codes import new_token, token_hash
from secinfo.domain.errors import InvalidApiKey, InvalidInput, NotFound
from secinfo.domain.model import ApiKey
from secinfo.services.deps import Deps, new_id

# last_used_at is written at most this often, not on every call.
LAST_USED_RESOLUTION_SECONDS = 300


@dataclass(frozen=True)
class CreatedKey:
    key: str
    api_key: ApiKey


async def create(deps: Deps, name: str) -> CreatedKey:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("Give the key a name of 1 to 100 characters.")
    key = new_token("sik")
    api_key = ApiKey(
        id=new_id("key"),
        name=name,
        key_hash=token_hash(key),
        prefix=key[:10],
        created_at=deps.clock.now(),
    )
    async with deps.uow() as uow:
        await uow.api_keys.add(api_key)
        await uow.commit()
    return CreatedKey(key, api_key)


async def list_keys(deps: Deps) -> list[ApiKey]:
    async with deps.uow() as uow:
        return await uow.api_keys.list()


async def revoke(deps: Deps, api_key_id: str) -> ApiKey:
    async with deps.uow() as uow:
        api_key = await uow.api_keys.get(api_key_id)
        if api_key is None:
            raise NotFound("No API key with that id.")
        if api_key.revoked_at is None:
            api_key.revoked_at = deps.clock.now()
            await uow.api_keys.update(api_key)
            await uow.commit()
    return api_key


async def authenticate(deps: Deps, key: str | None) -> ApiKey:
    if not key:
        raise InvalidApiKey()
    now = deps.clock.now()
    async with deps.uow() as uow:
        api_key = await uow.api_keys.get_by_hash(token_hash(key))
        if api_key is None or api_key.revoked_at is not None:
            raise InvalidApiKey("That API key is not valid or has been revoked.")
        last = api_key.last_used_at
        if last is None or (now - last).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
            api_key.last_used_at = now
            await uow.api_keys.update(api_key)
            await uow.commit()
    return api_key
