"""Recovery, "forgot password": no enumeration, masked contacts typed back in full,
two proofs with 2-step verification, and a reset that ends every session."""

from __future__ import annotations

import re
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

from secinfo.domain.contacts import Channel
from secinfo.domain.errors import (
    DomainError,
    InvalidCode,
    InvalidCredentials,
    NotFound,
    PasswordResetRequired,
    RecoveryProofMissing,
    Unauthenticated,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import InfoKind, Recovery, RecoveryContact, RequestContext, SecurityInfo
from secinfo.services import account_security, accounts, recovery, security_info, signin
from secinfo.services.accounts import NewSession
from secinfo.services.deps import Deps

pytestmark = pytest.mark.anyio

CONTEXT = RequestContext(ip="203.0.113.7", user_agent="browser")
ALICE = "alice@example.com"
PHONE = "+14155550189"
NOBODY = "nobody@example.com"
NEW_PASSWORD = "a completely new passphrase"
MASKED = re.compile(r"^(?:[^@*]{1,2}\*{5}@[^@]+|\*+\d{2})$")


@pytest.fixture
async def alice(deps: Deps) -> tuple[NewSession, SecurityInfo]:
    return await create_account(deps, ALICE)


async def with_phone(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> SecurityInfo:
    new_session, item = alice
    await step_up(deps, new_session.session, item.id)
    session = await accounts.authenticate(deps, new_session.token)
    started = await security_info.add(deps, session, InfoKind.PHONE, PHONE, None, CONTEXT)
    return await security_info.confirm_add(
        deps, session, started.item.id, started.verification.id, latest_code(store, PHONE), CONTEXT
    )


def contact_for(started: Recovery, channel: Channel) -> RecoveryContact:
    return next(contact for contact in started.contacts if contact.channel is channel)


def public(started: Recovery) -> dict[str, object]:
    """What the API shows of a started recovery (see api/recovery.py)."""
    return {
        "recovery_id": started.id,
        "contacts": [(c.id, c.channel, c.masked) for c in started.contacts],
        "expires_at": started.expires_at,
    }


async def prove(
    deps: Deps, store: FakeStore, started: Recovery, channel: Channel, typed: str
) -> Recovery:
    answer = await recovery.send_code(deps, started.id, contact_for(started, channel).id, typed)
    return await recovery.verify(
        deps, started.id, answer.verification_id, latest_code(store, typed)
    )


async def test_a_real_and_an_unknown_name_get_the_same_kind_of_answer(
    deps: Deps, store: FakeStore, clock: FakeClock, alice: tuple[NewSession, SecurityInfo]
) -> None:
    sent_before = len(store.messages())

    real = await recovery.start(deps, ALICE, CONTEXT)
    unknown = await recovery.start(deps, NOBODY, CONTEXT)

    for started in (real, unknown):
        shown = public(started)
        assert shown.keys() == {"recovery_id", "contacts", "expires_at"}
        assert started.id.startswith("rcv_")
        assert started.expires_at == clock.now() + timedelta(minutes=30)
        assert started.contacts, "at least one contact is always shown"
        for contact in started.contacts:
            assert contact.id.startswith("rc_")
            assert MASKED.match(contact.masked), contact.masked
    assert real.contacts[0].masked == "al*****@example.com"
    assert unknown.contacts[0].masked == "no*****@example.com"
    assert len(store.messages()) == sent_before  # starting sends nothing, either way


async def test_the_decoys_for_an_unknown_name_are_the_same_every_time(deps: Deps) -> None:
    first = await recovery.start(deps, NOBODY, CONTEXT)
    second = await recovery.start(deps, " nobody@EXAMPLE.com ", CONTEXT)

    assert [(c.channel, c.masked) for c in first.contacts] == [
        (c.channel, c.masked) for c in second.contacts
    ]
    assert first.id != second.id


async def test_a_wrong_full_contact_sends_nothing_but_answers_the_same(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    started = await recovery.start(deps, ALICE, CONTEXT)
    email = contact_for(started, Channel.EMAIL)
    sent_before = len(store.messages())

    wrong = await recovery.send_code(deps, started.id, email.id, "alice@other.example")

    assert wrong.verification_id.startswith("ver_")
    assert len(store.messages()) == sent_before
    with pytest.raises(InvalidCode):
        await recovery.verify(deps, started.id, wrong.verification_id, "123456")
    right = await recovery.send_code(deps, started.id, email.id, " alice@EXAMPLE.com")
    assert type(right) is type(wrong) and right.verification_id != wrong.verification_id
    assert messages_to(store, ALICE)[-1] == "code_recovery"


async def test_typing_back_a_decoy_sends_nothing(deps: Deps, store: FakeStore) -> None:
    started = await recovery.start(deps, NOBODY, CONTEXT)

    answer = await recovery.send_code(deps, started.id, started.contacts[0].id, NOBODY)

    assert answer.verification_id.startswith("ver_")
    assert store.messages() == []
    with pytest.raises(RecoveryProofMissing):
        await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)


async def test_one_code_then_a_new_password_ends_every_session_and_tells_every_contact(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice
    await with_phone(deps, store, alice)
    other = await sign_in(deps, ALICE, context=on_device(CONTEXT, first))
    started = await recovery.start(deps, ALICE, CONTEXT)
    assert started.proofs_left == 1

    proven = await prove(deps, store, started, Channel.SMS, PHONE)
    assert proven.proofs_left == 0
    await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)

    for token in (first.token, other.token):
        with pytest.raises(Unauthenticated):
            await accounts.authenticate(deps, token)
    assert messages_to(store, ALICE)[-1] == "password_reset"
    assert messages_to(store, PHONE)[-1] == "password_reset"
    account_id = first.session.account_id
    assert store.events(account_id)[-1].type == EventTag.RECOVERY_COMPLETED
    with pytest.raises(InvalidCredentials):
        await signin.sign_in(deps, ALICE, GOOD_PASSWORD, on_device(CONTEXT, first))
    await sign_in(deps, ALICE, NEW_PASSWORD, on_device(CONTEXT, first))
    with pytest.raises(NotFound, match="ended"):  # a recovery is used once
        await recovery.reset_password(deps, started.id, "yet another passphrase", CONTEXT)


async def test_a_reset_clears_the_password_reset_required_after_this_wasnt_me(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    first, _ = alice
    account_id = first.session.account_id
    event = store.events(account_id)[-1]
    await account_security.report_not_me(deps, first.session, event.id, CONTEXT)
    assert store.accounts[account_id].password_reset_required is True
    with pytest.raises(PasswordResetRequired):
        await signin.sign_in(deps, ALICE, GOOD_PASSWORD, on_device(CONTEXT, first))

    started = await recovery.start(deps, ALICE, CONTEXT)
    await prove(deps, store, started, Channel.EMAIL, ALICE)
    await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)

    assert store.accounts[account_id].password_reset_required is False
    await sign_in(deps, ALICE, NEW_PASSWORD, on_device(CONTEXT, first))


async def test_a_wrong_recovery_code_proves_nothing(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> None:
    started = await recovery.start(deps, ALICE, CONTEXT)
    answer = await recovery.send_code(
        deps, started.id, contact_for(started, Channel.EMAIL).id, ALICE
    )

    with pytest.raises(InvalidCode):
        await recovery.verify(
            deps, started.id, answer.verification_id, wrong_code(latest_code(store, ALICE))
        )

    assert store.recoveries[started.id].proofs_left == 1
    with pytest.raises(RecoveryProofMissing):
        await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)


@pytest.fixture
async def two_step_alice(
    deps: Deps, store: FakeStore, alice: tuple[NewSession, SecurityInfo]
) -> tuple[NewSession, SecurityInfo]:
    new_session, _ = alice
    await with_phone(deps, store, alice)
    session = await accounts.authenticate(deps, new_session.token)
    await account_security.set_two_step(deps, session, True, CONTEXT)
    return alice


async def test_with_2_step_on_recovery_needs_two_proofs_from_different_contacts(
    deps: Deps, store: FakeStore, two_step_alice: tuple[NewSession, SecurityInfo]
) -> None:
    started = await recovery.start(deps, ALICE, CONTEXT)
    assert started.proofs_left == 2
    assert {c.channel for c in started.contacts} == {Channel.EMAIL, Channel.SMS}

    assert (await prove(deps, store, started, Channel.EMAIL, ALICE)).proofs_left == 1
    with pytest.raises(RecoveryProofMissing):
        await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)
    assert (await prove(deps, store, started, Channel.SMS, PHONE)).proofs_left == 0

    await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)
    assert store.accounts[two_step_alice[0].session.account_id].password_hash.endswith(NEW_PASSWORD)


async def test_a_proven_contact_cannot_be_used_again_for_the_second_proof(
    deps: Deps, store: FakeStore, two_step_alice: tuple[NewSession, SecurityInfo]
) -> None:
    started = await recovery.start(deps, ALICE, CONTEXT)
    email = contact_for(started, Channel.EMAIL)
    await prove(deps, store, started, Channel.EMAIL, ALICE)
    sent_before = len(store.messages())

    again = await recovery.send_code(deps, started.id, email.id, ALICE)

    assert len(store.messages()) == sent_before  # nothing goes out for a proven contact
    with pytest.raises(InvalidCode):
        await recovery.verify(deps, started.id, again.verification_id, latest_code(store, ALICE))
    assert store.recoveries[started.id].proofs_left == 1
    with pytest.raises(RecoveryProofMissing):
        await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)


async def test_two_codes_to_the_same_contact_count_as_one_proof(
    deps: Deps, store: FakeStore, clock: FakeClock, two_step_alice: tuple[NewSession, SecurityInfo]
) -> None:
    started = await recovery.start(deps, ALICE, CONTEXT)
    email = contact_for(started, Channel.EMAIL)
    first = await recovery.send_code(deps, started.id, email.id, ALICE)
    first_code = latest_code(store, ALICE)
    clock.advance(timedelta(seconds=31))
    second = await recovery.send_code(deps, started.id, email.id, ALICE)
    second_code = latest_code(store, ALICE)

    await recovery.verify(deps, started.id, first.verification_id, first_code)
    after_both = await recovery.verify(deps, started.id, second.verification_id, second_code)

    assert after_both.proofs_left == 1
    assert store.recoveries[started.id].proven_item_ids == [two_step_alice[1].id]
    with pytest.raises(RecoveryProofMissing):
        await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)


async def test_recovery_stays_possible_after_2_step_info_is_removed(
    deps: Deps, store: FakeStore, two_step_alice: tuple[NewSession, SecurityInfo]
) -> None:
    new_session, email = two_step_alice
    phone = next(i for i in store.security_info.values() if i.value == PHONE)
    session = await accounts.authenticate(deps, new_session.token)
    try:
        await security_info.remove(deps, session, phone.id, CONTEXT)
    except DomainError:
        return  # refusing the removal keeps recovery possible too
    started = await recovery.start(deps, ALICE, CONTEXT)

    await prove(deps, store, started, Channel.EMAIL, ALICE)

    await recovery.reset_password(deps, started.id, NEW_PASSWORD, CONTEXT)
    assert email.id in store.recoveries[started.id].proven_item_ids
