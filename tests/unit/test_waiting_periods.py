"""Waiting periods: remove-all and "I don't have any of these" wait 30 days.

While a change waits, every other change to security settings and billing is refused
with the date it ends; old contacts are told at the start, every 7 days and at the end;
a code to an old contact (or "this wasn't me") cancels it; a scheduled job completes it
exactly once, however many workers run it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType

import anyio
import anyio.lowlevel
import pytest
from tests.fakes import (
    GOOD_PASSWORD,
    FakeClock,
    FakeStore,
    FakeUnitOfWork,
    FakeUnitOfWorkFactory,
    create_account,
    latest_code,
    make_deps,
    messages_to,
    sign_in,
    step_up,
    wrong_code,
)

from secinfo.domain.dates import format_moment
from secinfo.domain.errors import (
    InvalidCode,
    NoPendingChange,
    PasswordResetRequired,
    SecurityInfoChangePending,
    Unauthenticated,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import (
    ChallengeReason,
    ChangeKind,
    ChangeStatus,
    InfoKind,
    InfoState,
    PendingChange,
    RequestContext,
    SecurityInfo,
)
from secinfo.services import (
    account_security,
    accounts,
    billing,
    pending_changes,
    replace_info,
    security_info,
    signin,
)
from secinfo.services.accounts import NewSession
from secinfo.services.deps import Deps

pytestmark = pytest.mark.anyio

CONTEXT = RequestContext()
ALICE = "alice@example.com"
PHONE = "+14155550189"
WORK = "alice@work.example"
NEW = "alice@new.example"
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@dataclass
class Holder:
    """Alice: an email (her sign-in name) and a phone, and a stepped-up session."""

    new_session: NewSession
    email: SecurityInfo
    phone: SecurityInfo

    @property
    def account_id(self) -> str:
        return self.new_session.session.account_id


async def add_confirmed(
    deps: Deps, store: FakeStore, new_session: NewSession, kind: InfoKind, value: str
) -> SecurityInfo:
    started = await security_info.add(deps, new_session.session, kind, value, None, CONTEXT)
    return await security_info.confirm_add(
        deps,
        new_session.session,
        started.item.id,
        started.verification.id,
        latest_code(store, value),
        CONTEXT,
    )


async def fresh_session(deps: Deps, holder: Holder) -> NewSession:
    """The session as stored now (privileged_until and all)."""
    session = await accounts.authenticate(deps, holder.new_session.token)
    return NewSession(holder.new_session.token, session, None)


@pytest.fixture
async def alice(deps: Deps, store: FakeStore, clock: FakeClock) -> Holder:
    new_session, email = await create_account(deps, ALICE)
    clock.advance(SECOND)
    await step_up(deps, new_session.session, email.id)
    new_session = NewSession(
        new_session.token,
        await accounts.authenticate(deps, new_session.token),
        new_session.device_token,
    )
    phone = await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)
    return Holder(new_session, email, phone)


@pytest.fixture
async def removing_all(deps: Deps, alice: Holder) -> PendingChange:
    return await security_info.remove_all(deps, alice.new_session.session, CONTEXT)


def templates(store: FakeStore, destination: str, template: str) -> int:
    return messages_to(store, destination).count(template)


# -- starting ----------------------------------------------------------------------------


async def test_remove_all_waits_exactly_30_days_and_tells_every_old_contact(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: Holder
) -> None:
    change = await security_info.remove_all(deps, alice.new_session.session, CONTEXT)

    assert change.kind is ChangeKind.REMOVE_ALL
    assert change.ends_at == clock.now() + timedelta(days=30)
    assert sorted(change.item_ids) == sorted([alice.email.id, alice.phone.id])
    stored = store.pending_changes[change.id]
    assert (stored.status, stored.ends_at) == (ChangeStatus.PENDING, change.ends_at)
    for item in (alice.email, alice.phone):
        assert store.security_info[item.id].state is InfoState.REMOVAL_PENDING
    assert messages_to(store, ALICE)[-1] == "pending_change_started"
    assert messages_to(store, PHONE)[-1] == "pending_change_started"
    assert change.id in messages_to(store, ALICE, "pending_change_started")[0]
    event = store.events(alice.account_id)[-1]
    assert (event.type, event.details["change_id"]) == (EventTag.PENDING_CHANGE_STARTED, change.id)
    assert (await pending_changes.current(deps, alice.account_id)) == stored


async def test_the_account_stays_usable_while_a_change_waits(
    deps: Deps, clock: FakeClock, alice: Holder, removing_all: PendingChange
) -> None:
    clock.advance(10 * DAY)

    new_session = await sign_in(deps, ALICE, context=RequestContext(device_token=None))

    assert new_session.session.account_id == alice.account_id


# -- the freeze --------------------------------------------------------------------------

Action = Callable[[Deps, FakeStore, Holder], Awaitable[object]]


async def _add(deps: Deps, store: FakeStore, holder: Holder) -> object:
    return await security_info.add(
        deps, holder.new_session.session, InfoKind.EMAIL, WORK, None, CONTEXT
    )


async def _label(deps: Deps, store: FakeStore, holder: Holder) -> object:
    return await security_info.update_label(
        deps, holder.new_session.session, holder.phone.id, "phone", CONTEXT
    )


async def _remove(deps: Deps, store: FakeStore, holder: Holder) -> object:
    return await security_info.remove(deps, holder.new_session.session, holder.phone.id, CONTEXT)


async def _remove_all_again(deps: Deps, store: FakeStore, holder: Holder) -> object:
    return await security_info.remove_all(deps, holder.new_session.session, CONTEXT)


async def _sign_in_option(deps: Deps, store: FakeStore, holder: Holder) -> object:
    return await security_info.set_sign_in(
        deps, holder.new_session.session, holder.phone.id, True, CONTEXT
    )


async def _password(deps: Deps, store: FakeStore, holder: Holder) -> object:
    return await accounts.change_password(
        deps, holder.new_session.session, GOOD_PASSWORD, "a brand new long secret", CONTEXT
    )


async def _two_step(deps: Deps, store: FakeStore, holder: Holder) -> object:
    return await account_security.set_two_step(deps, holder.new_session.session, True, CONTEXT)


async def _billing(deps: Deps, store: FakeStore, holder: Holder) -> object:
    return await billing.put(deps, holder.account_id, {"plan": "pro"}, CONTEXT)


async def _replace(deps: Deps, store: FakeStore, holder: Holder) -> object:
    return await replace_info.start(
        deps, holder.new_session.session, InfoKind.EMAIL, NEW, None, CONTEXT
    )


@pytest.mark.parametrize(
    "action",
    [
        _add,
        _label,
        _remove,
        pytest.param(_remove_all_again, id="remove_all_again"),
        _sign_in_option,
        _password,
        _two_step,
        _billing,
        _replace,
    ],
    ids=lambda action: getattr(action, "__name__", "action").strip("_"),
)
async def test_while_a_change_waits_every_security_change_is_refused_with_its_end(
    deps: Deps,
    store: FakeStore,
    alice: Holder,
    removing_all: PendingChange,
    action: Action,
) -> None:
    items_before = {key: (i.state, i.label, i.sign_in) for key, i in store.security_info.items()}
    account_before = store.accounts[alice.account_id]
    messages_before = len(store.messages())

    with pytest.raises(SecurityInfoChangePending) as refused:
        await action(deps, store, alice)

    assert refused.value.details["ends_at"] == removing_all.ends_at
    assert refused.value.details["pending_change_id"] == removing_all.id
    assert format_moment(removing_all.ends_at) in refused.value.message  # "December 2, …"
    assert refused.value.to_dict()["ends_at"] == removing_all.ends_at.isoformat()
    after = {key: (i.state, i.label, i.sign_in) for key, i in store.security_info.items()}
    assert after == items_before
    assert store.accounts[alice.account_id] == account_before
    assert store.billing == {}
    assert len(store.messages()) == messages_before


async def test_confirming_an_addition_started_before_the_change_is_refused(
    deps: Deps, store: FakeStore, alice: Holder
) -> None:
    started = await security_info.add(
        deps, alice.new_session.session, InfoKind.EMAIL, WORK, None, CONTEXT
    )
    code = latest_code(store, WORK)
    change = await security_info.remove_all(deps, alice.new_session.session, CONTEXT)

    with pytest.raises(SecurityInfoChangePending) as refused:
        await security_info.confirm_add(
            deps, alice.new_session.session, started.item.id, started.verification.id, code, CONTEXT
        )

    assert refused.value.details["ends_at"] == change.ends_at
    assert store.security_info[started.item.id].state is InfoState.PENDING


async def test_billing_can_be_changed_again_once_the_change_is_canceled(
    deps: Deps, store: FakeStore, alice: Holder, removing_all: PendingChange
) -> None:
    await pending_changes.cancel_with_session(deps, alice.new_session.session, CONTEXT)

    updated_at = await billing.put(deps, alice.account_id, {"plan": "pro"}, CONTEXT)

    assert await billing.get(deps, alice.account_id) == ({"plan": "pro"}, updated_at)


# -- reminders ---------------------------------------------------------------------------


async def test_a_reminder_goes_out_every_7_days_exactly_once(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: Holder, removing_all: PendingChange
) -> None:
    clock.advance(7 * DAY - SECOND)
    assert await pending_changes.send_due_reminders(deps) == 0

    clock.advance(SECOND)
    assert await pending_changes.send_due_reminders(deps) == 1
    assert await pending_changes.send_due_reminders(deps) == 0  # the job runs twice

    for destination in (ALICE, PHONE):
        assert templates(store, destination, "pending_change_reminder") == 1
    clock.advance(7 * DAY)
    assert await pending_changes.send_due_reminders(deps) == 1
    assert await pending_changes.send_due_reminders(deps) == 0
    for destination in (ALICE, PHONE):
        assert templates(store, destination, "pending_change_reminder") == 2
    assert store.pending_changes[removing_all.id].next_reminder_at == (
        removing_all.created_at + 21 * DAY
    )
    reminded = [e for e in store.events() if e.type == EventTag.PENDING_CHANGE_REMINDED]
    assert [e.details["change_id"] for e in reminded] == [removing_all.id] * 2  # one a week


async def test_a_late_job_sends_one_reminder_not_one_per_missed_week(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: Holder, removing_all: PendingChange
) -> None:
    clock.advance(16 * DAY)  # the reminders of day 7 and day 14 are both late

    assert await pending_changes.send_due_reminders(deps) == 1
    assert await pending_changes.send_due_reminders(deps) == 0

    assert templates(store, ALICE, "pending_change_reminder") == 1
    assert store.pending_changes[removing_all.id].next_reminder_at == (
        removing_all.created_at + 21 * DAY
    )


async def test_no_reminder_after_the_change_has_ended(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: Holder, removing_all: PendingChange
) -> None:
    clock.advance(30 * DAY)

    assert await pending_changes.send_due_reminders(deps) == 0
    assert templates(store, ALICE, "pending_change_reminder") == 0


# -- completion --------------------------------------------------------------------------


async def test_the_change_completes_once_at_the_end_and_says_it_is_time_for_new_info(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: Holder, removing_all: PendingChange
) -> None:
    clock.advance(30 * DAY - SECOND)
    assert await pending_changes.complete_due(deps) == 0
    assert store.security_info[alice.email.id].state is InfoState.REMOVAL_PENDING

    clock.advance(SECOND)
    assert await pending_changes.complete_due(deps) == 1
    assert await pending_changes.complete_due(deps) == 0

    change = store.pending_changes[removing_all.id]
    assert (change.status, change.completed_at) == (ChangeStatus.COMPLETED, clock.now())
    for item in (alice.email, alice.phone):
        assert store.security_info[item.id].state is InfoState.REMOVED
        assert store.security_info[item.id].removed_at == clock.now()
    for destination in (ALICE, PHONE):
        assert templates(store, destination, "pending_change_ended") == 1
    completed = [
        event
        for event in store.events(alice.account_id)
        if event.type == EventTag.PENDING_CHANGE_COMPLETED
    ]
    assert len(completed) == 1
    assert await security_info.list_info(deps, alice.account_id) == []
    assert await pending_changes.current(deps, alice.account_id) is None


async def test_after_remove_all_sign_in_asks_for_new_security_info(
    deps: Deps, clock: FakeClock, alice: Holder, removing_all: PendingChange
) -> None:
    clock.advance(30 * DAY)
    await pending_changes.complete_due(deps)

    result = await signin.sign_in(deps, ALICE, GOOD_PASSWORD, CONTEXT)

    assert result.session is None and result.challenge is not None
    assert result.challenge.challenge.reason is ChallengeReason.RECONFIRM
    assert result.challenge.options == []


class YieldingUnitOfWork(FakeUnitOfWork):
    """Hands control to other tasks at the start and end of every transaction, so two
    workers' transactions interleave the way separate processes' would."""

    async def __aenter__(self) -> YieldingUnitOfWork:
        await anyio.lowlevel.checkpoint()
        await super().__aenter__()
        return self

    async def commit(self) -> None:
        await anyio.lowlevel.checkpoint()
        await super().commit()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, traceback)
        await anyio.lowlevel.checkpoint()


class YieldingFactory(FakeUnitOfWorkFactory):
    def __call__(self) -> YieldingUnitOfWork:
        self.opened += 1
        return YieldingUnitOfWork(self.store)


async def test_two_workers_at_once_complete_the_change_exactly_once(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: Holder, removing_all: PendingChange
) -> None:
    workers = [make_deps(uow=YieldingFactory(store), clock=clock) for _ in range(2)]
    clock.advance(30 * DAY)
    completed: list[int] = []
    reminded: list[int] = []

    async def work(worker: Deps) -> None:
        reminded.append(await pending_changes.send_due_reminders(worker))
        completed.append(await pending_changes.complete_due(worker))

    async with anyio.create_task_group() as group:
        for worker in workers:
            group.start_soon(work, worker)

    assert sorted(completed) == [0, 1]
    assert reminded == [0, 0]
    assert templates(store, ALICE, "pending_change_ended") == 1
    assert templates(store, PHONE, "pending_change_ended") == 1
    assert store.pending_changes[removing_all.id].status is ChangeStatus.COMPLETED


async def test_two_workers_at_once_send_one_reminder(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: Holder, removing_all: PendingChange
) -> None:
    workers = [make_deps(uow=YieldingFactory(store), clock=clock) for _ in range(3)]
    clock.advance(7 * DAY)
    sent: list[int] = []

    async def work(worker: Deps) -> None:
        sent.append(await pending_changes.send_due_reminders(worker))

    async with anyio.create_task_group() as group:
        for worker in workers:
            group.start_soon(work, worker)

    assert sorted(sent) == [0, 0, 1]
    assert templates(store, ALICE, "pending_change_reminder") == 1


# -- canceling ---------------------------------------------------------------------------


async def test_a_code_to_an_old_contact_cancels_the_change_and_restores_the_items(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: Holder, removing_all: PendingChange
) -> None:
    clock.advance(3 * DAY)
    view = await pending_changes.view(deps, removing_all.id)
    assert {item.id for item in view.old_contacts} == {alice.email.id, alice.phone.id}

    verification = await pending_changes.start_cancel_code(
        deps, removing_all.id, alice.phone.id, client_ip=None
    )
    assert messages_to(store, PHONE)[-1] == "code_cancel_change"
    canceled = await pending_changes.cancel_with_code(
        deps, removing_all.id, verification.id, latest_code(store, PHONE), CONTEXT
    )

    assert (canceled.status, canceled.canceled_at) == (ChangeStatus.CANCELED, clock.now())
    assert store.pending_changes[removing_all.id].status is ChangeStatus.CANCELED
    for item in (alice.email, alice.phone):
        assert store.security_info[item.id].state is InfoState.ACTIVE
    assert messages_to(store, ALICE)[-1] == "pending_change_canceled"
    assert await pending_changes.current(deps, alice.account_id) is None
    clock.advance(30 * DAY)
    assert await pending_changes.complete_due(deps) == 0
    assert store.security_info[alice.email.id].state is InfoState.ACTIVE
    # the freeze is over: a label can change again (after a new step-up)
    await step_up(deps, alice.new_session.session, alice.email.id)
    relabeled = await security_info.update_label(
        deps, alice.new_session.session, alice.phone.id, "mobile", CONTEXT
    )
    assert relabeled.label == "mobile"


async def test_a_wrong_cancel_code_leaves_the_change_waiting(
    deps: Deps, store: FakeStore, alice: Holder, removing_all: PendingChange
) -> None:
    verification = await pending_changes.start_cancel_code(
        deps, removing_all.id, alice.email.id, client_ip=None
    )

    with pytest.raises(InvalidCode):
        await pending_changes.cancel_with_code(
            deps, removing_all.id, verification.id, wrong_code(latest_code(store, ALICE)), CONTEXT
        )

    assert store.pending_changes[removing_all.id].status is ChangeStatus.PENDING
    assert store.security_info[alice.email.id].state is InfoState.REMOVAL_PENDING


async def test_a_change_can_be_canceled_only_once(
    deps: Deps, store: FakeStore, alice: Holder, removing_all: PendingChange
) -> None:
    verification = await pending_changes.start_cancel_code(
        deps, removing_all.id, alice.email.id, client_ip=None
    )
    code = latest_code(store, ALICE)
    await pending_changes.cancel_with_session(deps, alice.new_session.session, CONTEXT)

    with pytest.raises(NoPendingChange):
        await pending_changes.cancel_with_code(
            deps, removing_all.id, verification.id, code, CONTEXT
        )
    with pytest.raises(NoPendingChange):
        await pending_changes.start_cancel_code(
            deps, removing_all.id, alice.email.id, client_ip=None
        )
    canceled = [
        event
        for event in store.events(alice.account_id)
        if event.type == EventTag.PENDING_CHANGE_CANCELED
    ]
    assert len(canceled) == 1


async def test_this_wasnt_me_cancels_revokes_sessions_and_requires_a_password_reset(
    deps: Deps, store: FakeStore, alice: Holder, removing_all: PendingChange
) -> None:
    other = await sign_in(deps, ALICE)
    verification = await pending_changes.start_cancel_code(
        deps, removing_all.id, alice.email.id, client_ip=None
    )

    await pending_changes.cancel_with_code(
        deps, removing_all.id, verification.id, latest_code(store, ALICE), CONTEXT, not_me=True
    )

    assert store.pending_changes[removing_all.id].status is ChangeStatus.CANCELED
    assert store.security_info[alice.phone.id].state is InfoState.ACTIVE
    for token in (alice.new_session.token, other.token):
        with pytest.raises(Unauthenticated):
            await accounts.authenticate(deps, token)
    assert store.accounts[alice.account_id].password_reset_required is True
    with pytest.raises(PasswordResetRequired):
        await signin.sign_in(deps, ALICE, GOOD_PASSWORD, CONTEXT)
    assert messages_to(store, PHONE)[-1] == "account_secured"
    event = next(
        event
        for event in store.events(alice.account_id)
        if event.type == EventTag.PENDING_CHANGE_CANCELED
    )
    assert event.details["not_me"] is True


# -- "I don't have any of these" ---------------------------------------------------------


async def test_a_replacement_waits_30_days_then_the_new_contact_takes_over(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: Holder
) -> None:
    clock.advance(DAY)  # no step-up: the holder cannot receive codes at the old contacts
    started = await replace_info.start(
        deps, alice.new_session.session, InfoKind.EMAIL, NEW, "new", CONTEXT
    )
    assert messages_to(store, NEW) == ["code_replace_info"]

    change = await replace_info.confirm(
        deps, alice.new_session.session, started.verification.id, latest_code(store, NEW), CONTEXT
    )

    assert change is not None
    assert (change.kind, change.new_item_id) == (ChangeKind.REPLACE_INFO, started.item.id)
    assert change.ends_at == clock.now() + timedelta(days=30)
    assert store.security_info[started.item.id].state is InfoState.PENDING
    assert store.security_info[started.item.id].verified_at == clock.now()
    for item in (alice.email, alice.phone):
        assert store.security_info[item.id].state is InfoState.REMOVAL_PENDING
        assert messages_to(store, item.value)[-1] == "pending_change_started"
    assert messages_to(store, NEW) == ["code_replace_info"]  # no notice to the newcomer yet

    clock.advance(30 * DAY)
    assert await pending_changes.complete_due(deps) == 1
    assert await pending_changes.complete_due(deps) == 0

    assert store.security_info[started.item.id].state is InfoState.ACTIVE
    for item in (alice.email, alice.phone):
        assert store.security_info[item.id].state is InfoState.REMOVED
        assert templates(store, item.value, "pending_change_ended") == 1
    listed = await security_info.list_info(deps, alice.account_id)
    assert [(item.value, item.state) for item in listed] == [(NEW, InfoState.ACTIVE)]


async def test_canceling_a_replacement_drops_the_new_contact(
    deps: Deps, store: FakeStore, alice: Holder
) -> None:
    started = await replace_info.start(
        deps, alice.new_session.session, InfoKind.EMAIL, NEW, None, CONTEXT
    )
    change = await replace_info.confirm(
        deps, alice.new_session.session, started.verification.id, latest_code(store, NEW), CONTEXT
    )
    assert change is not None
    verification = await pending_changes.start_cancel_code(
        deps, change.id, alice.phone.id, client_ip=None
    )

    await pending_changes.cancel_with_code(
        deps, change.id, verification.id, latest_code(store, PHONE), CONTEXT
    )

    assert store.security_info[started.item.id].state is InfoState.REMOVED
    for item in (alice.email, alice.phone):
        assert store.security_info[item.id].state is InfoState.ACTIVE
