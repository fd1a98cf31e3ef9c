"""The reconfirm prompt: "make sure you can still receive codes".

When no security info was verified for 365 days, sign-in asks the holder to verify one
item or add a new one. It can be skipped for 24 hours at a time; from 7 days after the
first prompt it cannot be skipped any more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from tests.fakes import (
    GOOD_PASSWORD,
    START,
    FakeClock,
    FakeStore,
    create_account,
    latest_code,
    messages_to,
    on_device,
    sign_in,
    step_up,
)

from secinfo.domain.errors import InvalidInput, ReconfirmRequired
from secinfo.domain.events import EventTag
from secinfo.domain.model import (
    ChallengeReason,
    ChangeKind,
    InfoKind,
    InfoState,
    RequestContext,
    SecurityInfo,
)
from secinfo.domain.verification import Purpose
from secinfo.services import pending_changes, security_info, signin
from secinfo.services.accounts import NewSession
from secinfo.services.deps import Deps
from secinfo.services.signin import ChallengeView

pytestmark = pytest.mark.anyio

ALICE = "alice@example.com"
PHONE = "+14155550189"
NEW = "alice@new.example"
CONTEXT = RequestContext(user_agent="laptop")
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
YEAR = timedelta(days=365)


@pytest.fixture
async def alice(deps: Deps) -> tuple[NewSession, SecurityInfo]:
    return await create_account(deps, ALICE)


async def sign_in_every_two_months_until(
    deps: Deps, clock: FakeClock, first: NewSession, until: datetime
) -> None:
    """Keep signing in with the password (no code, so nothing is re-verified)."""
    while clock.now() + timedelta(days=60) < until:
        clock.advance(timedelta(days=60))
        await sign_in(deps, ALICE, context=on_device(CONTEXT, first))
    clock.set(until)


async def prompted(deps: Deps, first: NewSession) -> ChallengeView:
    result = await signin.sign_in(deps, ALICE, GOOD_PASSWORD, on_device(CONTEXT, first))
    assert result.session is None, "expected the reconfirm prompt, got a session"
    assert result.challenge is not None
    assert result.challenge.challenge.reason is ChallengeReason.RECONFIRM
    return result.challenge


async def test_after_a_year_without_verifying_sign_in_asks_to_reconfirm(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, item = alice
    await sign_in_every_two_months_until(deps, clock, first, START + YEAR - SECOND)
    await sign_in(deps, ALICE, context=on_device(CONTEXT, first))  # one second short

    clock.advance(SECOND)
    view = await prompted(deps, first)

    assert view.challenge.skippable is True
    assert [option.id for option in view.options] == [item.id]
    assert view.enforced_from == clock.now() + 7 * DAY
    assert store.accounts[first.session.account_id].reconfirm_prompted_at == clock.now()


async def test_the_prompt_can_be_skipped_for_24_hours_at_a_time(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice
    await sign_in_every_two_months_until(deps, clock, first, START + YEAR)
    first_prompt = clock.now()
    view = await prompted(deps, first)

    skipped = await signin.skip_reconfirm(deps, view.challenge.id, CONTEXT)

    account_id = first.session.account_id
    assert skipped.session.account_id == account_id
    assert store.accounts[account_id].reconfirm_skipped_until == clock.now() + DAY
    assert EventTag.RECONFIRM_SKIPPED in [event.type for event in store.events(account_id)]
    clock.advance(DAY - SECOND)
    await sign_in(deps, ALICE, context=on_device(CONTEXT, first))  # still skipped
    clock.advance(SECOND)
    second_view = await prompted(deps, first)
    assert second_view.challenge.skippable is True
    await signin.skip_reconfirm(deps, second_view.challenge.id, CONTEXT)
    account = store.accounts[account_id]
    assert account.reconfirm_prompted_at == first_prompt  # the 7 days count from the first
    assert account.reconfirm_skipped_until == clock.now() + DAY


async def test_from_7_days_after_the_first_prompt_it_cannot_be_skipped(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice
    await sign_in_every_two_months_until(deps, clock, first, START + YEAR)
    first_prompt = clock.now()
    await signin.skip_reconfirm(deps, (await prompted(deps, first)).challenge.id, CONTEXT)
    clock.set(first_prompt + 7 * DAY - SECOND)
    last_chance = await prompted(deps, first)
    assert last_chance.challenge.skippable is True
    await signin.skip_reconfirm(deps, last_chance.challenge.id, CONTEXT)

    clock.advance(SECOND)  # inside the 24 hours just skipped, but 7 days are over
    view = await prompted(deps, first)
    sessions_before = len(store.sessions)

    assert view.challenge.skippable is False
    assert view.enforced_from == first_prompt + 7 * DAY
    with pytest.raises(ReconfirmRequired):
        await signin.skip_reconfirm(deps, view.challenge.id, CONTEXT)
    assert len(store.sessions) == sessions_before


async def test_a_skippable_prompt_left_open_past_day_7_cannot_be_skipped(
    deps: Deps, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice
    await sign_in_every_two_months_until(deps, clock, first, START + YEAR)
    first_prompt = clock.now()
    await signin.skip_reconfirm(deps, (await prompted(deps, first)).challenge.id, CONTEXT)
    clock.set(first_prompt + 7 * DAY - SECOND)
    view = await prompted(deps, first)

    clock.advance(SECOND)
    with pytest.raises(ReconfirmRequired):
        await signin.skip_reconfirm(deps, view.challenge.id, CONTEXT)


async def test_verifying_an_item_resets_the_clock(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, item = alice
    await sign_in_every_two_months_until(deps, clock, first, START + YEAR + 8 * DAY)
    view = await prompted(deps, first)
    assert view.challenge.skippable is True  # the 7 days count from the first prompt
    clock.advance(8 * DAY)
    view = await prompted(deps, first)
    assert view.challenge.skippable is False

    verification = await signin.send_code(deps, view.challenge.id, item.id, client_ip=None)
    assert verification.purpose is Purpose.RECONFIRM
    assert messages_to(store, ALICE)[-1] == "code_reconfirm"
    new_session = await signin.verify_code(
        deps, view.challenge.id, verification.id, latest_code(store, ALICE), CONTEXT
    )

    account_id = first.session.account_id
    assert new_session.session.account_id == account_id
    assert store.security_info[item.id].last_used_at == clock.now()
    account = store.accounts[account_id]
    assert (account.reconfirm_prompted_at, account.reconfirm_skipped_until) == (None, None)
    assert EventTag.RECONFIRMED in [event.type for event in store.events(account_id)]
    clock.advance(DAY)
    await sign_in(deps, ALICE, context=on_device(CONTEXT, first))


async def test_a_step_up_code_also_counts_as_reconfirming(
    deps: Deps, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, item = alice
    await sign_in_every_two_months_until(deps, clock, first, START + YEAR - DAY)
    current = await sign_in(deps, ALICE, context=on_device(CONTEXT, first))
    await step_up(deps, current.session, item.id)

    clock.advance(2 * DAY)

    await sign_in(deps, ALICE, context=on_device(CONTEXT, first))


async def test_adding_info_at_the_prompt_when_nothing_can_receive_codes_activates_it(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, item = alice
    await step_up(deps, first.session, item.id)
    removal = await security_info.remove(deps, first.session, item.id, CONTEXT)
    assert removal.pending_change is not None
    clock.advance(30 * DAY)
    assert await pending_changes.complete_due(deps) == 1
    view = await prompted(deps, first)  # the email is gone as security info, not as a name
    assert view.options == []

    verification = await signin.add_info(deps, view.challenge.id, InfoKind.PHONE, PHONE, CONTEXT)
    assert verification.purpose is Purpose.ADD_INFO
    assert messages_to(store, PHONE) == ["code_add_info"]
    new_session = await signin.verify_code(
        deps, view.challenge.id, verification.id, latest_code(store, PHONE), CONTEXT
    )

    assert new_session.session.account_id == first.session.account_id
    listed = await security_info.list_info(deps, first.session.account_id)
    assert [(i.value, i.state) for i in listed] == [(PHONE, InfoState.ACTIVE)]
    assert listed[0].verified_at == clock.now()
    assert await pending_changes.current(deps, first.session.account_id) is None
    clock.advance(DAY)
    await sign_in(deps, ALICE, context=on_device(CONTEXT, first))


async def test_adding_info_at_the_prompt_while_old_info_remains_waits_30_days(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, item = alice
    await sign_in_every_two_months_until(deps, clock, first, START + YEAR)
    view = await prompted(deps, first)

    verification = await signin.add_info(deps, view.challenge.id, InfoKind.EMAIL, NEW, CONTEXT)
    assert verification.purpose is Purpose.REPLACE_INFO
    new_session = await signin.verify_code(
        deps, view.challenge.id, verification.id, latest_code(store, NEW), CONTEXT
    )

    assert new_session.session.account_id == first.session.account_id
    change = await pending_changes.current(deps, first.session.account_id)
    assert change is not None
    assert (change.kind, change.item_ids) == (ChangeKind.REPLACE_INFO, [item.id])
    assert change.ends_at == clock.now() + 30 * DAY
    assert store.security_info[change.new_item_id or ""].state is InfoState.PENDING
    assert store.security_info[item.id].state is InfoState.REMOVAL_PENDING
    assert messages_to(store, ALICE)[-1] == "pending_change_started"


async def test_only_the_reconfirm_step_can_be_skipped(
    deps: Deps, alice: tuple[NewSession, SecurityInfo]
) -> None:
    result = await signin.sign_in(
        deps, ALICE, GOOD_PASSWORD, RequestContext(ip="198.51.100.20")
    )  # a new device on a new network
    assert result.challenge is not None
    assert result.challenge.challenge.reason is ChallengeReason.UNUSUAL_SIGN_IN

    with pytest.raises(InvalidInput):
        await signin.skip_reconfirm(deps, result.challenge.challenge.id, CONTEXT)
    with pytest.raises(InvalidInput):
        await signin.add_info(deps, result.challenge.challenge.id, InfoKind.PHONE, PHONE, CONTEXT)
