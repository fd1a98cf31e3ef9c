"""Finishing an add by its flow ("verifying with another account"): the verification
id the holder's page carries and the code, whatever session the browser now holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes import (
    FakeClock,
    FakeStore,
    create_account,
    latest_code,
    messages_to,
    step_up,
    wrong_code,
)

from secinfo.domain.errors import InvalidCode, MaxAttemptsReached, NotFound
from secinfo.domain.model import InfoKind, InfoState, RequestContext, SecurityInfo
from secinfo.domain.verification import Status
from secinfo.services import accounts, security_info
from secinfo.services import step_up as step_up_service
from secinfo.services.accounts import NewSession
from secinfo.services.deps import Deps

pytestmark = pytest.mark.anyio

CONTEXT = RequestContext()
ALICE = "alice@example.com"
BOB = "bob@example.com"  # Bob's sign-in name, and the alternate email Alice adds

Flow = tuple[NewSession, security_info.AddStarted, NewSession]


@pytest.fixture
async def flow(deps: Deps, clock: FakeClock) -> Flow:
    """Alice, stepped up, adds Bob's address; Bob has his own account and session."""
    bob, _ = await create_account(deps, BOB)
    alice, item = await create_account(deps, ALICE)
    clock.advance(timedelta(seconds=1))
    await step_up(deps, alice.session, item.id)
    started = await security_info.add(
        deps, alice.session, InfoKind.EMAIL, BOB, "other account", CONTEXT
    )
    return alice, started, bob


def values(store: FakeStore, account_id: str) -> list[tuple[str, InfoState]]:
    return sorted(
        (item.value, item.state)
        for item in store.security_info.values()
        if item.account_id == account_id
    )


async def test_the_flow_and_its_code_finish_the_add_whoever_is_signed_in(
    deps: Deps, store: FakeStore, flow: Flow
) -> None:
    alice, started, bob = flow
    bob_before = values(store, bob.session.account_id)
    bob_events = len(store.events(bob.session.account_id))

    added = await security_info.confirm_add_by_flow(
        deps, started.item.id, started.verification.id, latest_code(store, BOB), CONTEXT
    )

    assert added.item.state is InfoState.ACTIVE
    assert added.account_name == "al*****@example.com"
    assert values(store, alice.session.account_id) == [
        (ALICE, InfoState.ACTIVE),
        (BOB, InfoState.ACTIVE),
    ]
    assert store.security_info[started.item.id].label == "other account"
    assert messages_to(store, ALICE)[-1] == "security_info_added"
    # Bob's account is untouched: same info, no new activity.
    assert values(store, bob.session.account_id) == bob_before
    assert len(store.events(bob.session.account_id)) == bob_events


async def test_a_wrong_code_still_counts_and_five_end_the_flow(
    deps: Deps, store: FakeStore, flow: Flow
) -> None:
    _, started, _ = flow
    code = latest_code(store, BOB)

    with pytest.raises(InvalidCode) as first:
        await security_info.confirm_add_by_flow(
            deps, started.item.id, started.verification.id, wrong_code(code), CONTEXT
        )
    assert first.value.details["attempts_left"] == 4
    assert store.verifications[started.verification.id].check_attempts == 1
    for _ in range(4):
        with pytest.raises(InvalidCode):
            await security_info.confirm_add_by_flow(
                deps, started.item.id, started.verification.id, wrong_code(code), CONTEXT
            )

    assert store.verifications[started.verification.id].status is Status.MAX_ATTEMPTS_REACHED
    with pytest.raises(MaxAttemptsReached):
        await security_info.confirm_add_by_flow(
            deps, started.item.id, started.verification.id, code, CONTEXT
        )
    assert store.security_info[started.item.id].state is InfoState.PENDING


async def test_a_foreign_session_gets_nothing_without_the_flow_and_its_code(
    deps: Deps, store: FakeStore, flow: Flow
) -> None:
    alice, started, bob = flow
    code = latest_code(store, BOB)
    bob_item = next(
        item for item in store.security_info.values() if item.account_id == bob.session.account_id
    )

    # The holder's own path refuses Bob's session, before any check.
    with pytest.raises(NotFound):
        await security_info.confirm_add(
            deps, bob.session, started.item.id, started.verification.id, code, CONTEXT
        )
    # The flow path needs the pair as the page carries it: not another item, not another
    # kind of verification, not a made-up id.
    with pytest.raises(NotFound):
        await security_info.confirm_add_by_flow(
            deps, bob_item.id, started.verification.id, code, CONTEXT
        )
    alice_item = next(
        item
        for item in store.security_info.values()
        if item.account_id == alice.session.account_id and item.value == ALICE
    )
    other = await step_up_service.start(deps, alice.session, alice_item.id, client_ip=None)
    with pytest.raises(NotFound):
        await security_info.confirm_add_by_flow(deps, started.item.id, other.id, code, CONTEXT)
    with pytest.raises(NotFound):
        await security_info.confirm_add_by_flow(
            deps, started.item.id, "ver_" + "0" * 32, code, CONTEXT
        )

    assert store.verifications[started.verification.id].check_attempts == 0
    assert store.security_info[started.item.id].state is InfoState.PENDING


async def test_the_flow_ends_with_the_session_that_started_it(
    deps: Deps, store: FakeStore, flow: Flow
) -> None:
    alice, started, _ = flow
    code = latest_code(store, BOB)
    await accounts.sign_out_everywhere(deps, alice.session, CONTEXT)

    with pytest.raises(NotFound):
        await security_info.confirm_add_by_flow(
            deps, started.item.id, started.verification.id, code, CONTEXT
        )
    with pytest.raises(NotFound):
        await security_info.resend_add_by_flow(
            deps, started.item.id, started.verification.id, client_ip=None
        )
    assert store.security_info[started.item.id].state is InfoState.PENDING


async def test_a_replaced_add_is_no_longer_a_flow(deps: Deps, store: FakeStore, flow: Flow) -> None:
    alice, started, _ = flow
    code = latest_code(store, BOB)
    await security_info.add(deps, alice.session, InfoKind.EMAIL, BOB, None, CONTEXT)

    with pytest.raises(NotFound):
        await security_info.confirm_add_by_flow(
            deps, started.item.id, started.verification.id, code, CONTEXT
        )


async def test_i_did_not_get_a_code_by_the_flow(
    deps: Deps, store: FakeStore, clock: FakeClock, flow: Flow
) -> None:
    _, started, _ = flow
    clock.advance(timedelta(seconds=31))

    resent = await security_info.resend_add_by_flow(
        deps, started.item.id, started.verification.id, client_ip=None
    )

    assert resent.send_attempts == 2
    assert messages_to(store, BOB)[-2:] == ["code_add_info", "code_add_info"]
    added = await security_info.confirm_add_by_flow(
        deps, started.item.id, started.verification.id, latest_code(store, BOB), CONTEXT
    )
    assert isinstance(added.item, SecurityInfo) and added.item.state is InfoState.ACTIVE
