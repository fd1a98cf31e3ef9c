"""The fakes behave like the SQL unit of work, or the service tests would prove nothing."""

from __future__ import annotations

import pytest
from tests.fakes import START, FakeStore, FakeUnitOfWorkFactory

from secinfo.domain.model import Account, AccountStatus

pytestmark = pytest.mark.anyio


def _account(account_id: str = "acc_1") -> Account:
    return Account(account_id, "fake$pw", AccountStatus.PENDING, START)


async def test_changes_are_visible_to_other_units_of_work_only_after_commit(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore
) -> None:
    async with uow_factory() as writer:
        await writer.accounts.add(_account())
        assert await writer.accounts.get("acc_1") is not None
        async with uow_factory() as reader:
            assert await reader.accounts.get("acc_1") is None
        await writer.commit()

    async with uow_factory() as reader:
        assert await reader.accounts.get("acc_1") is not None
    assert store.commits == 1


async def test_leaving_without_commit_discards_changes(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore
) -> None:
    async with uow_factory() as uow:
        await uow.accounts.add(_account())
        await uow.commit()

    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:
            account = await uow.accounts.get("acc_1")
            assert account is not None
            account.status = AccountStatus.ACTIVE
            await uow.accounts.update(account)
            raise RuntimeError("boom")

    assert store.accounts["acc_1"].status is AccountStatus.PENDING


async def test_mutating_what_was_read_changes_nothing_until_update_and_commit(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore
) -> None:
    async with uow_factory() as uow:
        await uow.accounts.add(_account())
        await uow.commit()

    async with uow_factory() as uow:
        account = await uow.accounts.get("acc_1")
        assert account is not None
        account.status = AccountStatus.DISABLED
        await uow.commit()

    assert store.accounts["acc_1"].status is AccountStatus.PENDING
