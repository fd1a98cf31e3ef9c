"""Step-up: a code makes one session privileged for a short window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes import (
    GOOD_PASSWORD,
    FakeClock,
    FakeStore,
    FakeUnitOfWorkFactory,
    create_account,
    latest_code,
    make_deps,
    messages_to,
    sign_in,
    store_of,
    wrong_code,
)

from secinfo.domain.errors import (
    CodeNotSupported,
    InvalidCode,
    NotFound,
    StepUpRequired,
    VerificationNotPending,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import InfoState, RequestContext
from secinfo.services import accounts
from secinfo.services import step_up as step_up_service
from secinfo.services.deps import Deps, ServiceConfig
from secinfo.services.guards import require_privileged

pytestmark = pytest.mark.anyio

CONTEXT = RequestContext()
ALICE = "alice@example.com"


async def test_a_session_is_privileged_for_exactly_the_step_up_window(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    new_session, item = await create_account(deps, ALICE)
    session = new_session.session
    with pytest.raises(StepUpRequired):
        require_privileged(deps, session)

    verification = await step_up_service.start(deps, session, item.id, client_ip=None)
    assert messages_to(store, ALICE)[-1] == "code_step_up"
    clock.advance(timedelta(minutes=2))
    until = await step_up_service.check(
        deps, session, verification.id, latest_code(store, ALICE), CONTEXT
    )

    assert until == clock.now() + timedelta(minutes=10)
    stored = await accounts.authenticate(deps, new_session.token)
    assert stored.privileged_until == until
    clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    require_privileged(deps, stored)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(StepUpRequired):
        require_privileged(deps, stored)
    assert store.events(session.account_id)[-1].type == EventTag.STEP_UP_SUCCESS
    assert store.security_info[item.id].last_used_at == until - timedelta(minutes=10)


async def test_the_window_follows_the_configuration(clock: FakeClock) -> None:
    config = ServiceConfig(step_up_window=timedelta(minutes=3))
    deps = make_deps(uow=FakeUnitOfWorkFactory(), clock=clock, config=config)
    new_session, item = await create_account(deps, ALICE)

    verification = await step_up_service.start(deps, new_session.session, item.id, client_ip=None)
    store = store_of(deps)
    until = await step_up_service.check(
        deps, new_session.session, verification.id, latest_code(store, ALICE), CONTEXT
    )

    assert until - clock.now() == timedelta(minutes=3)


async def test_a_step_up_does_not_privilege_other_sessions(deps: Deps, store: FakeStore) -> None:
    first, item = await create_account(deps, ALICE)
    second = await sign_in(deps, ALICE, GOOD_PASSWORD, CONTEXT)

    verification = await step_up_service.start(deps, first.session, item.id, client_ip=None)
    await step_up_service.check(
        deps, first.session, verification.id, latest_code(store, ALICE), CONTEXT
    )

    other = await accounts.authenticate(deps, second.token)
    assert other.privileged_until is None
    with pytest.raises(StepUpRequired):
        require_privileged(deps, other)


async def test_another_sessions_verification_is_refused(deps: Deps, store: FakeStore) -> None:
    first, item = await create_account(deps, ALICE)
    second = await sign_in(deps, ALICE, GOOD_PASSWORD, CONTEXT)
    verification = await step_up_service.start(deps, first.session, item.id, client_ip=None)
    code = latest_code(store, ALICE)

    with pytest.raises(NotFound):
        await step_up_service.check(deps, second.session, verification.id, code, CONTEXT)

    assert second.session.privileged_until is None
    assert store.verifications[verification.id].check_attempts == 0
    # The code still works for the session that asked for it.
    await step_up_service.check(deps, first.session, verification.id, code, CONTEXT)


async def test_another_accounts_verification_is_refused(deps: Deps, store: FakeStore) -> None:
    alice, item = await create_account(deps, ALICE)
    bob, _ = await create_account(deps, "bob@example.com")
    verification = await step_up_service.start(deps, alice.session, item.id, client_ip=None)

    with pytest.raises(NotFound):
        await step_up_service.check(
            deps, bob.session, verification.id, latest_code(store, ALICE), CONTEXT
        )
    assert bob.session.privileged_until is None


async def test_a_wrong_code_does_not_privilege_and_is_recorded(
    deps: Deps, store: FakeStore
) -> None:
    new_session, item = await create_account(deps, ALICE)
    verification = await step_up_service.start(deps, new_session.session, item.id, client_ip=None)
    code = latest_code(store, ALICE)

    with pytest.raises(InvalidCode) as refused:
        await step_up_service.check(
            deps, new_session.session, verification.id, wrong_code(code), CONTEXT
        )

    assert refused.value.details["attempts_left"] == 4
    assert new_session.session.privileged_until is None
    stored = await accounts.authenticate(deps, new_session.token)
    assert stored.privileged_until is None
    event = store.events(new_session.session.account_id)[-1]
    assert (event.type, event.outcome) == (EventTag.CODE_CHECK_FAILED, "wrong_code")
    assert event.details == {"purpose": "step_up"}


async def test_a_step_up_code_works_once(deps: Deps, store: FakeStore) -> None:
    new_session, item = await create_account(deps, ALICE)
    verification = await step_up_service.start(deps, new_session.session, item.id, client_ip=None)
    code = latest_code(store, ALICE)
    await step_up_service.check(deps, new_session.session, verification.id, code, CONTEXT)

    with pytest.raises(VerificationNotPending):
        await step_up_service.check(deps, new_session.session, verification.id, code, CONTEXT)


async def test_step_up_to_someone_elses_contact_is_refused(deps: Deps, store: FakeStore) -> None:
    alice, _ = await create_account(deps, ALICE)
    _, bobs_item = await create_account(deps, "bob@example.com")
    sent_before = len(store.messages())

    with pytest.raises(NotFound):
        await step_up_service.start(deps, alice.session, bobs_item.id, client_ip=None)
    assert len(store.messages()) == sent_before


async def test_step_up_needs_an_active_contact(deps: Deps, store: FakeStore) -> None:
    new_session, item = await create_account(deps, ALICE)
    store.security_info[item.id].state = InfoState.PENDING  # as if it were never confirmed

    with pytest.raises(CodeNotSupported):
        await step_up_service.start(deps, new_session.session, item.id, client_ip=None)
