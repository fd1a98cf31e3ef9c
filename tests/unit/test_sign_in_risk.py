"""When sign-in asks for a code: not every time, only when it looks risky.

A code is asked for with 2-step verification on, after 5 recent failures, after 90 days
without signing in, or when a device not seen before comes from a network not seen
before. A known device, or a new device on a known network, signs in with the password.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from tests.fakes import (
    GOOD_PASSWORD,
    FakeClock,
    FakeStore,
    create_account,
    latest_code,
    messages_to,
    on_device,
    sign_in,
    step_up,
    wrong_code,
)

from secinfo.domain.errors import ChallengeNotFound, InvalidCode, InvalidCredentials, NotFound
from secinfo.domain.events import EventTag
from secinfo.domain.model import ChallengeReason, InfoKind, RequestContext, SecurityInfo
from secinfo.services import accounts, security_info, signin
from secinfo.services.account_security import set_two_step
from secinfo.services.accounts import NewSession
from secinfo.services.deps import Deps
from secinfo.services.signin import ChallengeView

pytestmark = pytest.mark.anyio

ALICE = "alice@example.com"
PHONE = "+14155550189"
HOME = RequestContext(ip="203.0.113.7", user_agent="home-laptop")
HOME_NEIGHBOUR = RequestContext(ip="203.0.113.99", user_agent="new-tablet")  # same /24
CAFE = RequestContext(ip="198.51.100.20", user_agent="unknown-browser")


@pytest.fixture
async def alice(deps: Deps) -> tuple[NewSession, SecurityInfo]:
    """Signed up on a device that got a device token; no network seen yet."""
    return await create_account(deps, ALICE)


async def challenged(deps: Deps, context: RequestContext) -> ChallengeView:
    result = await signin.sign_in(deps, ALICE, GOOD_PASSWORD, context)
    assert result.session is None, "expected a challenge, got a session"
    assert result.challenge is not None
    return result.challenge


async def test_a_known_device_signs_in_with_the_password_from_anywhere(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice

    second = await sign_in(deps, ALICE, context=on_device(CAFE, first))

    assert second.session.account_id == first.session.account_id
    assert second.device_token is None
    assert messages_to(store, ALICE) == ["code_sign_up"]  # no unusual-sign-in notice


async def test_a_new_device_on_a_new_network_must_enter_a_code_and_contacts_are_told(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, item = alice
    sessions_before = len(store.sessions)

    view = await challenged(deps, CAFE)

    assert view.challenge.reason is ChallengeReason.UNUSUAL_SIGN_IN
    assert view.challenge.skippable is False
    assert [option.id for option in view.options] == [item.id]
    assert len(store.sessions) == sessions_before
    assert messages_to(store, ALICE)[-1] == "unusual_sign_in"
    assert CAFE.ip in messages_to(store, ALICE, "unusual_sign_in")[0]
    event = store.events(first.session.account_id)[-1]
    assert (event.type, event.outcome) == (EventTag.SIGN_IN_CHALLENGED, "challenged")
    assert event.details["reason"] == "unusual_sign_in"
    assert store.accounts[first.session.account_id].last_sign_in_at == first.session.created_at


async def test_a_new_device_on_a_known_network_is_not_challenged(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice
    await sign_in(deps, ALICE, context=on_device(HOME, first))  # remembers the home network

    tablet = await sign_in(deps, ALICE, context=HOME_NEIGHBOUR)

    assert tablet.device_token is not None  # a new device gets its own token
    assert "unusual_sign_in" not in messages_to(store, ALICE)
    # ... and is known from then on, even from a cafe.
    assert (await sign_in(deps, ALICE, context=on_device(CAFE, tablet))).device_token is None


async def test_five_recent_failures_require_a_code(
    deps: Deps, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await signin.sign_in(deps, ALICE, "not the password at all", CAFE)
    await sign_in(deps, ALICE, context=on_device(HOME, first))  # four are not enough

    with pytest.raises(InvalidCredentials):
        await signin.sign_in(deps, ALICE, "not the password at all", CAFE)
    view = await challenged(deps, on_device(HOME, first))

    assert view.challenge.reason is ChallengeReason.RECENT_FAILURES


async def test_failures_older_than_24_hours_do_not_count(
    deps: Deps, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await signin.sign_in(deps, ALICE, "not the password at all", CAFE)

    clock.advance(timedelta(hours=24))
    assert (await challenged(deps, on_device(HOME, first))).challenge.reason is (
        ChallengeReason.RECENT_FAILURES
    )
    clock.advance(timedelta(seconds=1))
    await sign_in(deps, ALICE, context=on_device(HOME, first))


async def test_90_days_without_signing_in_require_a_code(
    deps: Deps, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice
    clock.advance(timedelta(days=90) - timedelta(seconds=1))
    await sign_in(deps, ALICE, context=on_device(HOME, first))

    clock.advance(timedelta(days=90))
    view = await challenged(deps, on_device(HOME, first))

    assert view.challenge.reason is ChallengeReason.LONG_INACTIVITY


async def test_with_2_step_on_every_sign_in_needs_a_code(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, item = alice
    await step_up(deps, first.session, item.id)
    session = await accounts.authenticate(deps, first.token)
    started = await security_info.add(deps, session, InfoKind.PHONE, PHONE, None, HOME)
    await security_info.confirm_add(
        deps, session, started.item.id, started.verification.id, latest_code(store, PHONE), HOME
    )
    assert await set_two_step(deps, session, True, HOME) is True

    for _ in range(2):
        clock.advance(timedelta(minutes=5))
        view = await challenged(deps, on_device(HOME, first))
        assert view.challenge.reason is ChallengeReason.TWO_STEP
        assert {option.value for option in view.options} == {ALICE, PHONE}


async def test_the_challenge_code_opens_a_session_and_the_device_is_known_after(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, item = alice
    view = await challenged(deps, CAFE)

    verification = await signin.send_code(deps, view.challenge.id, item.id, client_ip=None)
    assert messages_to(store, ALICE)[-1] == "code_sign_in"
    new_session = await signin.verify_code(
        deps, view.challenge.id, verification.id, latest_code(store, ALICE), CAFE
    )

    session = await accounts.authenticate(deps, new_session.token)
    assert session.account_id == first.session.account_id
    assert store.challenges[view.challenge.id].completed_at is not None
    assert new_session.device_token is not None
    assert store.events(first.session.account_id)[-1].type == EventTag.SIGN_IN_SUCCESS
    with pytest.raises(ChallengeNotFound):  # a challenge is used once
        await signin.verify_code(
            deps, view.challenge.id, verification.id, latest_code(store, ALICE), CAFE
        )
    again = await sign_in(deps, ALICE, context=replace(CAFE, device_token=new_session.device_token))
    assert again.session.account_id == first.session.account_id


async def test_a_wrong_challenge_code_opens_no_session(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, item = alice
    view = await challenged(deps, CAFE)
    verification = await signin.send_code(deps, view.challenge.id, item.id, client_ip=None)
    sessions_before = len(store.sessions)

    with pytest.raises(InvalidCode):
        await signin.verify_code(
            deps, view.challenge.id, verification.id, wrong_code(latest_code(store, ALICE)), CAFE
        )

    assert len(store.sessions) == sessions_before
    assert store.challenges[view.challenge.id].completed_at is None
    event = store.events(first.session.account_id)[-1]
    assert (event.type, event.outcome) == (EventTag.CODE_CHECK_FAILED, "wrong_code")


async def test_a_challenge_ends_after_15_minutes(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    _, item = alice
    view = await challenged(deps, CAFE)
    verification = await signin.send_code(deps, view.challenge.id, item.id, client_ip=None)
    code = latest_code(store, ALICE)

    clock.advance(timedelta(minutes=15))

    with pytest.raises(ChallengeNotFound):
        await signin.verify_code(deps, view.challenge.id, verification.id, code, CAFE)
    with pytest.raises(ChallengeNotFound):
        await signin.send_code(deps, view.challenge.id, item.id, client_ip=None)


async def test_a_code_for_another_contact_of_someone_else_cannot_be_sent(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    _, bobs_item = await create_account(deps, "bob@example.com")
    view = await challenged(deps, CAFE)
    sent_before = len(store.messages())

    with pytest.raises(NotFound, match="Choose one of the contacts"):
        await signin.send_code(deps, view.challenge.id, bobs_item.id, client_ip=None)

    assert len(store.messages()) == sent_before
