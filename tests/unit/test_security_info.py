"""Managing security info: add with a code, remove, sign-in options, labels."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes import (
    GOOD_PASSWORD,
    FakeClock,
    FakeStore,
    create_account,
    latest_code,
    messages_to,
    sign_in,
    step_up,
    wrong_code,
)

from secinfo.domain.errors import (
    AlreadyRegistered,
    InvalidCode,
    InvalidCredentials,
    InvalidInput,
    LastSignInName,
    NotFound,
    NotVerifiedYet,
    SignInNameTaken,
    StepUpRequired,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import ChangeKind, InfoKind, InfoState, RequestContext, SecurityInfo
from secinfo.services import security_info, signin
from secinfo.services.accounts import NewSession
from secinfo.services.deps import Deps

pytestmark = pytest.mark.anyio

CONTEXT = RequestContext()
ALICE = "alice@example.com"
PHONE = "+14155550189"
WORK = "alice@work.example"


async def add_confirmed(
    deps: Deps, store: FakeStore, new_session: NewSession, kind: InfoKind, value: str
) -> SecurityInfo:
    started = await security_info.add(deps, new_session.session, kind, value, None, CONTEXT)
    code = latest_code(store, started.item.value)
    return await security_info.confirm_add(
        deps, new_session.session, started.item.id, started.verification.id, code, CONTEXT
    )


@pytest.fixture
async def alice(deps: Deps, clock: FakeClock) -> tuple[NewSession, SecurityInfo]:
    """A signed-in account with one active email, privileged by a fresh step-up."""
    new_session, item = await create_account(deps, ALICE)
    clock.advance(timedelta(seconds=1))
    await step_up(deps, new_session.session, item.id)
    return new_session, item


async def test_adding_info_needs_a_step_up_when_active_info_exists(
    deps: Deps, store: FakeStore
) -> None:
    new_session, _ = await create_account(deps, ALICE)
    sent_before = len(store.messages())

    with pytest.raises(StepUpRequired):
        await security_info.add(deps, new_session.session, InfoKind.PHONE, PHONE, None, CONTEXT)

    assert len(store.messages()) == sent_before
    assert len(store.security_info) == 1


async def test_add_and_confirm_makes_the_item_active(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice

    started = await security_info.add(
        deps, new_session.session, InfoKind.PHONE, "+1 (415) 555-0189", "  My   phone ", CONTEXT
    )
    assert (started.item.value, started.item.state) == (PHONE, InfoState.PENDING)
    assert started.item.label == "My phone"
    assert messages_to(store, PHONE) == ["code_add_info"]
    item = await security_info.confirm_add(
        deps,
        new_session.session,
        started.item.id,
        started.verification.id,
        latest_code(store, PHONE),
        CONTEXT,
    )

    assert item.state is InfoState.ACTIVE and item.verified_at is not None
    assert store.security_info[item.id].state is InfoState.ACTIVE
    listed = await security_info.list_info(deps, new_session.session.account_id)
    assert [(i.value, i.state) for i in listed] == [
        (ALICE, InfoState.ACTIVE),
        (PHONE, InfoState.ACTIVE),
    ]
    types = [event.type for event in store.events(new_session.session.account_id)]
    assert types[-2:] == [EventTag.SECURITY_INFO_ADDED, EventTag.SECURITY_INFO_VERIFIED]


async def test_confirming_an_addition_notifies_the_other_active_contacts(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice
    await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)

    await add_confirmed(deps, store, new_session, InfoKind.EMAIL, WORK)

    notice_to_alice = messages_to(store, ALICE, "security_info_added")[-1]
    assert "al*****@work.example (email)" in notice_to_alice
    assert messages_to(store, PHONE)[-1] == "security_info_added"
    assert "*********89" not in messages_to(store, PHONE, "security_info_added")[-1]


async def test_the_new_contact_itself_gets_no_added_notice(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice

    await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)

    assert messages_to(store, PHONE) == ["code_add_info"]


async def test_a_wrong_code_leaves_the_item_pending(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice
    started = await security_info.add(
        deps, new_session.session, InfoKind.PHONE, PHONE, None, CONTEXT
    )
    sent_before = len(store.messages())

    with pytest.raises(InvalidCode):
        await security_info.confirm_add(
            deps,
            new_session.session,
            started.item.id,
            started.verification.id,
            wrong_code(latest_code(store, PHONE)),
            CONTEXT,
        )

    assert store.security_info[started.item.id].state is InfoState.PENDING
    assert store.verifications[started.verification.id].check_attempts == 1
    assert len(store.messages()) == sent_before


async def test_an_active_value_cannot_be_added_twice(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice
    await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)

    with pytest.raises(AlreadyRegistered):
        await security_info.add(deps, new_session.session, InfoKind.PHONE, PHONE, None, CONTEXT)
    with pytest.raises(AlreadyRegistered):
        await security_info.add(deps, new_session.session, InfoKind.EMAIL, ALICE, None, CONTEXT)


async def test_adding_a_pending_value_again_replaces_the_unfinished_one(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice
    first = await security_info.add(deps, new_session.session, InfoKind.PHONE, PHONE, None, CONTEXT)

    second = await security_info.add(
        deps, new_session.session, InfoKind.PHONE, PHONE, None, CONTEXT
    )

    assert store.security_info[first.item.id].state is InfoState.REMOVED
    listed = await security_info.list_info(deps, new_session.session.account_id)
    assert [item.id for item in listed if item.value == PHONE] == [second.item.id]


async def test_removing_the_last_item_that_receives_codes_waits_30_days(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo], clock: FakeClock
) -> None:
    new_session, item = alice

    removal = await security_info.remove(deps, new_session.session, item.id, CONTEXT)

    change = removal.pending_change
    assert change is not None
    assert (change.kind, change.item_ids) == (ChangeKind.REMOVE_INFO, [item.id])
    assert change.ends_at == clock.now() + timedelta(days=30)
    assert store.pending_changes[change.id].ends_at == change.ends_at
    assert store.security_info[item.id].state is InfoState.REMOVAL_PENDING
    assert messages_to(store, ALICE)[-1] == "pending_change_started"


async def test_removing_needs_a_step_up(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo], clock: FakeClock
) -> None:
    new_session, _ = alice
    phone = await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)
    clock.advance(timedelta(minutes=10))

    with pytest.raises(StepUpRequired):
        await security_info.remove(deps, new_session.session, phone.id, CONTEXT)
    assert store.security_info[phone.id].state is InfoState.ACTIVE


async def test_removing_another_item_works_and_tells_every_contact(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice
    phone = await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)

    removal = await security_info.remove(deps, new_session.session, phone.id, CONTEXT)

    assert removal.pending_change is None
    assert removal.item.state is InfoState.REMOVED
    assert store.security_info[phone.id].removed_at is not None
    listed = await security_info.list_info(deps, new_session.session.account_id)
    assert [item.value for item in listed] == [ALICE]
    assert messages_to(store, ALICE)[-1] == "security_info_removed"
    assert messages_to(store, PHONE)[-1] == "security_info_removed"
    assert "*********89" in messages_to(store, ALICE, "security_info_removed")[-1]
    event = store.events(new_session.session.account_id)[-1]
    assert (event.type, event.details["item_id"]) == (EventTag.SECURITY_INFO_REMOVED, phone.id)


async def test_a_removed_sign_in_name_stays_a_sign_in_name_until_switched_off(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, item = alice
    phone = await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)

    removal = await security_info.remove(deps, new_session.session, item.id, CONTEXT)

    assert removal.pending_change is None
    stored = store.security_info[item.id]
    assert (stored.state, stored.sign_in) == (InfoState.REMOVED, True)
    listed = await security_info.list_info(deps, new_session.session.account_id)
    assert [listed_item.value for listed_item in listed] == [PHONE]
    signed_in = await sign_in(deps, ALICE)
    assert signed_in.session.account_id == new_session.session.account_id
    # The last sign-in name still cannot be switched off ...
    with pytest.raises(LastSignInName):
        await security_info.set_sign_in(deps, new_session.session, item.id, False, CONTEXT)
    # ... but once the phone is one, the removed email can be.
    await security_info.set_sign_in(deps, new_session.session, phone.id, True, CONTEXT)
    await security_info.set_sign_in(deps, new_session.session, item.id, False, CONTEXT)
    assert store.security_info[item.id].sign_in is False
    with pytest.raises(InvalidCredentials):
        await signin.sign_in(deps, ALICE, GOOD_PASSWORD, CONTEXT)


async def test_sign_in_can_move_from_one_name_to_another(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, item = alice
    phone = await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)

    await security_info.set_sign_in(deps, new_session.session, phone.id, True, CONTEXT)
    await security_info.set_sign_in(deps, new_session.session, item.id, False, CONTEXT)

    signed_in = await sign_in(deps, "+1 415 555 0189", GOOD_PASSWORD, CONTEXT)
    assert signed_in.session.account_id == new_session.session.account_id
    with pytest.raises(InvalidCredentials):
        await signin.sign_in(deps, ALICE, GOOD_PASSWORD, CONTEXT)
    assert store.security_info[item.id].state is InfoState.ACTIVE  # still security info
    types = [event.type for event in store.events(new_session.session.account_id)]
    assert EventTag.SIGN_IN_NAME_ENABLED in types and EventTag.SIGN_IN_NAME_DISABLED in types


async def test_the_last_sign_in_name_cannot_be_switched_off(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, item = alice
    await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)

    with pytest.raises(LastSignInName):
        await security_info.set_sign_in(deps, new_session.session, item.id, False, CONTEXT)
    assert store.security_info[item.id].sign_in is True


async def test_sign_in_options_need_a_step_up(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo], clock: FakeClock
) -> None:
    new_session, _ = alice
    phone = await add_confirmed(deps, store, new_session, InfoKind.PHONE, PHONE)
    clock.advance(timedelta(minutes=11))

    with pytest.raises(StepUpRequired):
        await security_info.set_sign_in(deps, new_session.session, phone.id, True, CONTEXT)
    assert store.security_info[phone.id].sign_in is False


async def test_an_unverified_item_cannot_be_a_sign_in_name(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice
    started = await security_info.add(
        deps, new_session.session, InfoKind.PHONE, PHONE, None, CONTEXT
    )

    with pytest.raises(NotVerifiedYet):
        await security_info.set_sign_in(deps, new_session.session, started.item.id, True, CONTEXT)


async def test_another_accounts_sign_in_name_cannot_be_switched_on(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    await create_account(deps, ALICE)
    bob, bobs_item = await create_account(deps, "bob@example.com")
    clock.advance(timedelta(seconds=1))
    await step_up(deps, bob.session, bobs_item.id)
    # Bob may hold Alice's address as security info (he proved he reads it) ...
    shared = await add_confirmed(deps, store, bob, InfoKind.EMAIL, ALICE)

    # ... but it cannot become his sign-in name while it is hers.
    with pytest.raises(SignInNameTaken):
        await security_info.set_sign_in(deps, bob.session, shared.id, True, CONTEXT)
    assert store.security_info[shared.id].sign_in is False
    assert (await sign_in(deps, ALICE)).session.account_id != bob.session.account_id


async def test_items_of_another_account_are_not_found(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice
    _, bobs_item = await create_account(deps, "bob@example.com")

    with pytest.raises(NotFound):
        await security_info.remove(deps, new_session.session, bobs_item.id, CONTEXT)
    with pytest.raises(NotFound):
        await security_info.update_label(deps, new_session.session, bobs_item.id, "x", CONTEXT)
    assert store.security_info[bobs_item.id].state is InfoState.ACTIVE


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Work \t laptop\n ", "Work laptop"),
        ("   ", None),
        (None, None),
        ("x" * 64, "x" * 64),
    ],
)
async def test_labels_are_cleaned(
    deps: Deps,
    store: FakeStore,
    alice: tuple[NewSession, SecurityInfo],
    typed: str | None,
    stored: str | None,
) -> None:
    new_session, item = alice
    await security_info.update_label(deps, new_session.session, item.id, "old", CONTEXT)

    updated = await security_info.update_label(deps, new_session.session, item.id, typed, CONTEXT)

    assert updated.label == stored
    assert store.security_info[item.id].label == stored


async def test_a_label_longer_than_64_characters_is_refused(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, item = alice
    sent_before = len(store.messages())

    with pytest.raises(InvalidInput, match="64"):
        await security_info.update_label(deps, new_session.session, item.id, "y" * 65, CONTEXT)
    with pytest.raises(InvalidInput, match="64"):
        await security_info.add(deps, new_session.session, InfoKind.PHONE, PHONE, "z" * 65, CONTEXT)

    assert store.security_info[item.id].label is None
    assert len(store.messages()) == sent_before


async def test_only_emails_and_phones_can_be_added_with_a_code(
    deps: Deps, alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, _ = alice

    with pytest.raises(InvalidInput):
        await security_info.add(
            deps, new_session.session, InfoKind.AUTHENTICATOR, "JBSWY3DPEHPK3PXP", None, CONTEXT
        )
