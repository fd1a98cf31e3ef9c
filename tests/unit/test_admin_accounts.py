"""Operators' actions on accounts (services.admin_accounts) on the fakes: a lock stops
every way in and ends the sessions, each action is an activity event naming the
operator, the holder is told, and the view shows contacts masked only."""

from __future__ import annotations

import pytest
from tests.fakes import (
    GOOD_PASSWORD,
    FakeStore,
    create_account,
    latest_code,
    messages_to,
    on_device,
    sign_in,
    step_up,
)

from secinfo.domain.errors import (
    AccountErased,
    AccountLocked,
    AccountNotFound,
    AlreadyLocked,
    InvalidCredentials,
    InvalidInput,
    NoPendingChange,
    NotLocked,
    PasswordResetAlreadyRequired,
    PasswordResetRequired,
    Unauthenticated,
)
from secinfo.domain.events import OPERATOR_WAYS, EventTag
from secinfo.domain.model import AccountStatus, ChangeStatus, InfoState, RequestContext
from secinfo.services import (
    accounts,
    admin_accounts,
    data_rights,
    recovery,
    security_info,
    signin,
)
from secinfo.services.accounts import NewSession
from secinfo.services.admin_accounts import Operator
from secinfo.services.deps import Deps

pytestmark = pytest.mark.anyio

ALICE = "Alice.Admin@Example.com"
STORED = "Alice.Admin@example.com"
NEW_PASSWORD = "a completely new passphrase"
OPERATOR = Operator("api_key", "key_1", "support-desk")
CONTEXT = RequestContext(ip="203.0.113.9", user_agent="browser")


@pytest.fixture
async def alice(deps: Deps) -> NewSession:
    new_session, _ = await create_account(deps, ALICE)
    return new_session


def operator_events(store: FakeStore, account_id: str, tag: EventTag) -> list[dict[str, object]]:
    return [event.details for event in store.events(account_id) if event.type == tag.value]


def test_every_kind_of_operator_is_an_operator_way() -> None:
    ways = {Operator(kind, "x", "x").by for kind in ("api_key", "operator_account", "cli")}
    assert ways == OPERATOR_WAYS


async def test_search_is_normalised_like_sign_in(deps: Deps, alice: NewSession) -> None:
    for typed in (ALICE, "  alice.admin@EXAMPLE.COM ", STORED.upper()):
        found = await admin_accounts.search(deps, typed)
        assert [summary.id for summary in found] == [alice.session.account_id]
        assert found[0].sign_in_names == ["Al*****@example.com"]
    assert await admin_accounts.search(deps, "nobody@example.com") == []
    with pytest.raises(InvalidInput):
        await admin_accounts.search(deps, "not a name")


async def test_the_view_masks_every_contact(deps: Deps, alice: NewSession) -> None:
    view = await admin_accounts.view(deps, alice.session.account_id)
    assert view.status is AccountStatus.ACTIVE and not view.locked
    assert [item.masked for item in view.sign_in_names] == ["Al*****@example.com"]
    assert STORED not in repr(view) and STORED.lower() not in repr(view).lower()
    assert view.live_sessions == 1
    assert view.recent_activity[0].type == EventTag.ACCOUNT_ACTIVATED.value
    with pytest.raises(AccountNotFound):
        await admin_accounts.view(deps, "acc_unknown")


async def test_a_lock_ends_sessions_refuses_every_sign_in_and_tells_the_holder(
    deps: Deps, store: FakeStore, alice: NewSession
) -> None:
    account_id = alice.session.account_id
    view = await admin_accounts.lock(deps, account_id, OPERATOR, "  chargeback   fraud ")

    assert view.lock is not None and view.lock.reason == "chargeback fraud"
    assert view.lock.by == "support-desk" and view.live_sessions == 0
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(deps, alice.token)
    with pytest.raises(AccountLocked):
        await signin.sign_in(deps, ALICE, GOOD_PASSWORD, on_device(CONTEXT, alice))
    with pytest.raises(InvalidCredentials):  # a wrong password learns nothing more
        await signin.sign_in(deps, ALICE, "not the password at all", CONTEXT)
    assert "account_locked" in messages_to(store, STORED)
    [details] = operator_events(store, account_id, EventTag.ACCOUNT_LOCKED)
    assert details == {
        "by": "admin_api",
        "operator_kind": "api_key",
        "operator_id": "key_1",
        "operator_name": "support-desk",
        "api_key_name": "support-desk",
        "sessions": 1,
    }
    with pytest.raises(AlreadyLocked):
        await admin_accounts.lock(deps, account_id, OPERATOR)


async def test_recovery_of_a_locked_account_is_refused_after_the_proof(
    deps: Deps, store: FakeStore, alice: NewSession
) -> None:
    await admin_accounts.lock(deps, alice.session.account_id, OPERATOR)
    started = await recovery.start(deps, ALICE, CONTEXT)
    contact = started.contacts[0]
    answer = await recovery.send_code(deps, started.id, contact.id, ALICE)
    await recovery.verify(deps, started.id, answer.verification_id, latest_code(store, STORED))
    before = store.accounts[alice.session.account_id].password_hash
    with pytest.raises(AccountLocked):
        await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)
    assert store.accounts[alice.session.account_id].password_hash == before


async def test_a_plain_update_with_an_old_copy_does_not_undo_a_lock(
    deps: Deps, store: FakeStore, alice: NewSession
) -> None:
    account_id = alice.session.account_id
    async with deps.uow() as uow:
        stale = await uow.accounts.get(account_id)
    await admin_accounts.lock(deps, account_id, OPERATOR)
    assert stale is not None and not stale.locked
    async with deps.uow() as uow:
        await uow.accounts.update(stale)
        await uow.commit()
    assert store.accounts[account_id].locked


async def test_a_sign_in_that_read_the_account_before_a_lock_opens_no_session(
    deps: Deps, store: FakeStore, alice: NewSession
) -> None:
    """Password checked, then the lock commits, then the sign-in opens its session: the
    session is refused (and nothing of the sign-in is kept)."""
    account_id = alice.session.account_id
    async with deps.uow() as uow:
        checked = await uow.accounts.get(account_id)
    await admin_accounts.lock(deps, account_id, OPERATOR)
    assert checked is not None
    sessions_before = len(store.sessions)
    async with deps.uow() as uow:
        with pytest.raises(AccountLocked):
            await accounts.open_session(deps, uow, checked, CONTEXT)
    assert len(store.sessions) == sessions_before


async def test_unlock_restores_sign_in_and_tells_the_holder(
    deps: Deps, store: FakeStore, alice: NewSession
) -> None:
    account_id = alice.session.account_id
    with pytest.raises(NotLocked):
        await admin_accounts.unlock(deps, account_id, OPERATOR)
    await admin_accounts.lock(deps, account_id, OPERATOR)
    view = await admin_accounts.unlock(deps, account_id, OPERATOR)
    assert not view.locked
    await sign_in(deps, ALICE, GOOD_PASSWORD, on_device(CONTEXT, alice))
    assert "account_unlocked" in messages_to(store, STORED)
    assert operator_events(store, account_id, EventTag.ACCOUNT_UNLOCKED)[0]["by"] == "admin_api"


async def test_revoke_sessions_counts_them_and_records_the_operator(
    deps: Deps, store: FakeStore, alice: NewSession
) -> None:
    account_id = alice.session.account_id
    await sign_in(deps, ALICE, GOOD_PASSWORD, on_device(CONTEXT, alice))
    cli = Operator.cli()
    assert await admin_accounts.revoke_sessions(deps, account_id, cli) == 2
    assert await admin_accounts.revoke_sessions(deps, account_id, cli) == 0
    events = operator_events(store, account_id, EventTag.SESSIONS_REVOKED)
    assert [event["sessions"] for event in events] == [2, 0]
    assert {event["by"] for event in events} == {"cli"}
    assert "api_key_name" not in events[0]


async def test_require_password_reset(deps: Deps, store: FakeStore, alice: NewSession) -> None:
    account_id = alice.session.account_id
    view = await admin_accounts.require_password_reset(deps, account_id, OPERATOR)
    assert view.password_reset_required and view.live_sessions == 0
    with pytest.raises(PasswordResetRequired):
        await signin.sign_in(deps, ALICE, GOOD_PASSWORD, on_device(CONTEXT, alice))
    with pytest.raises(PasswordResetAlreadyRequired):
        await admin_accounts.require_password_reset(deps, account_id, OPERATOR)
    body = messages_to(store, STORED, "password_reset_required")[0]
    assert "/forgot-password" in body


async def test_cancel_pending_change_brings_the_items_back_and_tells_the_contacts(
    deps: Deps, store: FakeStore, alice: NewSession
) -> None:
    account_id = alice.session.account_id
    with pytest.raises(NoPendingChange):
        await admin_accounts.cancel_pending_change(deps, account_id, OPERATOR)
    item = next(i for i in store.security_info.values() if i.account_id == account_id)
    await step_up(deps, alice.session, item.id)
    session = await accounts.authenticate(deps, alice.token)
    change = await security_info.remove_all(deps, session, CONTEXT)
    assert (await admin_accounts.view(deps, account_id)).pending_change is not None

    view = await admin_accounts.cancel_pending_change(deps, account_id, OPERATOR)

    assert view.pending_change is None
    assert store.pending_changes[change.id].status is ChangeStatus.CANCELED
    assert store.security_info[item.id].state is InfoState.ACTIVE
    assert "pending_change_canceled" in messages_to(store, STORED)
    [details] = operator_events(store, account_id, EventTag.PENDING_CHANGE_CANCELED)
    assert details["change_id"] == change.id and details["operator_name"] == "support-desk"


async def test_an_erased_account_is_viewed_but_not_acted_on(deps: Deps, alice: NewSession) -> None:
    account_id = alice.session.account_id
    await data_rights.erase_account(deps, account_id, by="cli")
    assert (await admin_accounts.view(deps, account_id)).status is AccountStatus.ERASED
    with pytest.raises(AccountErased):
        await admin_accounts.lock(deps, account_id, OPERATOR)
