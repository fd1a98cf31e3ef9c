"""A password hashed with older parameters is rehashed at the next right sign-in."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.fakes import GOOD_PASSWORD, FakePasswords, FakeStore, create_account, sign_in

from secinfo.domain.errors import InvalidCredentials, Overloaded
from secinfo.domain.model import RequestContext
from secinfo.services import signin
from secinfo.services.deps import Deps

pytestmark = pytest.mark.anyio

ALICE = "alice@example.com"


async def with_legacy_hash(deps: Deps, store: FakeStore) -> str:
    new_session, _ = await create_account(deps, ALICE)
    account_id = new_session.session.account_id
    legacy = FakePasswords.LEGACY_PREFIX + GOOD_PASSWORD
    store.accounts[account_id] = replace(store.accounts[account_id], password_hash=legacy)
    return account_id


async def test_a_right_sign_in_stores_a_hash_with_todays_parameters(
    deps: Deps, store: FakeStore, passwords: FakePasswords
) -> None:
    account_id = await with_legacy_hash(deps, store)
    hashes_before = passwords.hashes

    await sign_in(deps, ALICE)

    assert store.accounts[account_id].password_hash == FakePasswords.PREFIX + GOOD_PASSWORD
    assert passwords.hashes == hashes_before + 1
    await sign_in(deps, ALICE)  # current now: no second rehash
    assert passwords.hashes == hashes_before + 1


async def test_a_wrong_password_leaves_the_old_hash(deps: Deps, store: FakeStore) -> None:
    account_id = await with_legacy_hash(deps, store)

    with pytest.raises(InvalidCredentials):
        await signin.sign_in(deps, ALICE, "not the password at all", RequestContext())

    assert store.accounts[account_id].password_hash.startswith(FakePasswords.LEGACY_PREFIX)


async def test_the_rehash_is_written_with_a_sign_in_that_asks_for_a_code(
    deps: Deps, store: FakeStore
) -> None:
    account_id = await with_legacy_hash(deps, store)
    store.accounts[account_id] = replace(store.accounts[account_id], two_step_enabled=True)

    result = await signin.sign_in(deps, ALICE, GOOD_PASSWORD, RequestContext())

    assert result.challenge is not None
    assert store.accounts[account_id].password_hash == FakePasswords.PREFIX + GOOD_PASSWORD


class BusyForRehash(FakePasswords):
    """Verifies, but has no room for the extra hash (the pool is full)."""

    async def hash(self, password: str) -> str:
        raise Overloaded(retry_after=1)


async def test_a_busy_pool_skips_the_rehash_and_the_sign_in_goes_on(
    deps: Deps, store: FakeStore
) -> None:
    account_id = await with_legacy_hash(deps, store)
    busy = replace(deps, passwords=BusyForRehash())

    session = await sign_in(busy, ALICE)

    assert session.session.account_id == account_id
    assert store.accounts[account_id].password_hash.startswith(FakePasswords.LEGACY_PREFIX)
