"""Integrator API keys: shown once, stored as a hash."""

from __future__ import annotations

from dataclasses import dataclass

from secinfo.domain.codes import new_token, token_hash
from secinfo.domain.errors import ForbiddenScope, InvalidApiKey, NotFound
from secinfo.domain.model import ApiKey, ApiKeyScope
from secinfo.domain.text import credential_name
from secinfo.services.deps import Deps, new_id
from secinfo.services.fresh_cache import FreshCache, last_used_is_stale

# last_used_at is written at most this often, not on every call.
LAST_USED_RESOLUTION_SECONDS = 300
# A key found valid is trusted for this long without asking the database again, so a
# revocation made by another process (``secinfo apikey revoke``) takes effect within this
# many seconds; one made through this process takes effect at once.
CACHE_SECONDS = 10

# Key hash -> the key, per application.
_cache: FreshCache[str, ApiKey] = FreshCache(CACHE_SECONDS)


@dataclass(frozen=True)
class CreatedKey:
    key: str
    api_key: ApiKey


async def create(
    deps: Deps, name: str, scope: ApiKeyScope = ApiKeyScope.VERIFICATION
) -> CreatedKey:
    """A new key: ``verification`` reaches the Verify API, ``admin`` the admin API."""
    name = credential_name(name, "key")
    key = new_token("sik")
    api_key = ApiKey(
        id=new_id("key"),
        name=name,
        key_hash=token_hash(key),
        prefix=key[:10],
        created_at=deps.clock.now(),
        scope=scope,
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
    _cache.forget(deps, api_key.key_hash)
    return api_key


async def authenticate_scope(deps: Deps, key: str | None, scope: ApiKeyScope) -> ApiKey:
    """The key's record if it is valid *and* has ``scope``; a valid key of the other
    scope is refused with ``forbidden_scope`` (403)."""
    api_key = await authenticate(deps, key)
    if api_key.scope is not scope:
        raise ForbiddenScope()
    return api_key


async def authenticate(deps: Deps, key: str | None) -> ApiKey:
    """The key's record; valid keys are cached for :data:`CACHE_SECONDS` per process."""
    if not key:
        raise InvalidApiKey()
    now = deps.clock.now()
    key_hash = token_hash(key)
    hit = _cache.get(deps, key_hash, now)
    if hit is not None:
        return hit
    async with deps.uow() as uow:
        api_key = await uow.api_keys.get_by_hash(key_hash)
        if api_key is None or api_key.revoked_at is not None:
            _cache.forget(deps, key_hash)
            raise InvalidApiKey("That API key is not valid or has been revoked.")
        if last_used_is_stale(api_key.last_used_at, now, LAST_USED_RESOLUTION_SECONDS):
            api_key.last_used_at = now
            await uow.api_keys.update(api_key)
            await uow.commit()
    _cache.put(deps, key_hash, api_key, now)
    return api_key
