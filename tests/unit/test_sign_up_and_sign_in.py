"""Sign up with a verified sign-in name, sign in with a password, sign out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes import (
    GOOD_PASSWORD,
    FakeClock,
    FakePasswords,
    FakeStore,
    FakeUnitOfWorkFactory,
    create_account,
    latest_code,
    make_deps,
    messages_to,
    on_device,
    sign_in,
    wrong_code,
)

from secinfo.domain.errors import (
    InvalidCode,
    InvalidCredentials,
    MaxAttemptsReached,
    TooManyRequests,
    Unauthenticated,
    WeakPassword,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import AccountStatus, InfoState, RequestContext
from secinfo.domain.verification import Status
from secinfo.services import accounts, signin
from secinfo.services.deps import Deps

pytestmark = pytest.mark.anyio

CONTEXT = RequestContext(ip="203.0.113.7", user_agent="pytest-browser")
ALICE = "alice@example.com"


async def test_sign_up_creates_a_pending_account_and_sends_a_code(
    deps: Deps, store: FakeStore
) -> None:
    started = await accounts.sign_up(deps, "alice@EXAMPLE.com", GOOD_PASSWORD, CONTEXT)

    assert started.channel == "email"
    assert started.to == "al*****@example.com"
    [account] = store.accounts.values()
    assert account.status is AccountStatus.PENDING
    assert account.password_hash == "fake$" + GOOD_PASSWORD
    [item] = store.security_info.values()
    assert (item.value, item.state, item.sign_in) == (ALICE, InfoState.PENDING, True)
    assert messages_to(store, ALICE) == ["code_sign_up"]
    assert len(latest_code(store, ALICE)) == 6
    verification = store.verifications[started.verification_id]
    assert verification.account_id == account.id
    assert verification.subject_id == item.id
    assert [event.type for event in store.events(account.id)] == [EventTag.ACCOUNT_CREATED]


async def test_a_phone_number_can_be_the_sign_in_name(deps: Deps, store: FakeStore) -> None:
    started = await accounts.sign_up(deps, "+1 415 555 0189", GOOD_PASSWORD, CONTEXT)

    assert (started.channel, started.to) == ("sms", "*********89")
    [message] = store.messages()
    assert message.destination == "+14155550189"
    assert message.body.rstrip().endswith(f"@localhost #{latest_code(store, '+14155550189')}")


async def test_the_right_code_activates_the_account_and_opens_a_session(
    deps: Deps, store: FakeStore
) -> None:
    started = await accounts.sign_up(deps, ALICE, GOOD_PASSWORD, CONTEXT)

    new_session = await accounts.confirm_sign_up(
        deps, started.verification_id, latest_code(store, ALICE), CONTEXT
    )

    account = store.accounts[new_session.session.account_id]
    assert account.status is AccountStatus.ACTIVE
    [item] = store.security_info.values()
    assert item.state is InfoState.ACTIVE and item.verified_at is not None
    assert store.verifications[started.verification_id].status is Status.APPROVED
    session = await accounts.authenticate(deps, new_session.token)
    assert session.id == new_session.session.id
    assert session.ip == CONTEXT.ip


async def test_a_wrong_code_counts_attempts_until_the_verification_ends(
    deps: Deps, store: FakeStore
) -> None:
    started = await accounts.sign_up(deps, ALICE, GOOD_PASSWORD, CONTEXT)
    code = latest_code(store, ALICE)

    with pytest.raises(InvalidCode) as first:
        await accounts.confirm_sign_up(deps, started.verification_id, wrong_code(code), CONTEXT)
    assert first.value.details["attempts_left"] == 4
    assert store.verifications[started.verification_id].check_attempts == 1

    for _ in range(4):
        with pytest.raises(InvalidCode):
            await accounts.confirm_sign_up(deps, started.verification_id, wrong_code(code), CONTEXT)
    assert store.verifications[started.verification_id].status is Status.MAX_ATTEMPTS_REACHED

    with pytest.raises(MaxAttemptsReached):
        await accounts.confirm_sign_up(deps, started.verification_id, code, CONTEXT)
    assert next(iter(store.accounts.values())).status is AccountStatus.PENDING


async def test_signing_up_with_a_taken_name_looks_the_same_but_warns_the_holder(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    await create_account(deps, ALICE)
    clock.advance(timedelta(minutes=1))
    accounts_before = len(store.accounts)

    started = await accounts.sign_up(deps, ALICE, "another long secret", CONTEXT)

    assert (started.channel, started.to) == ("email", "al*****@example.com")
    assert started.expires_at == clock.now() + timedelta(minutes=10)
    assert len(store.accounts) == accounts_before
    assert messages_to(store, ALICE)[-1] == "sign_up_existing"
    assert not store.messages()[-1].carries_secret
    assert store.verifications[started.verification_id].account_id is None


async def test_a_sign_up_for_a_taken_name_can_never_be_approved(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    await create_account(deps, ALICE)
    started = await accounts.sign_up(deps, ALICE, "another long secret", CONTEXT)
    clock.advance(timedelta(seconds=31))
    await accounts.resend_sign_up_code(deps, started.verification_id, client_ip=None)
    # The holder's own (old) sign-up code, an empty code and guesses: none may approve.
    guesses = [latest_code(store, ALICE), "000000", "", "123456", "999999"]

    for guess in guesses:
        with pytest.raises((InvalidCode, MaxAttemptsReached)):
            await accounts.confirm_sign_up(deps, started.verification_id, guess, CONTEXT)

    verification = store.verifications[started.verification_id]
    assert verification.status is Status.MAX_ATTEMPTS_REACHED
    assert verification.send_attempts == 2
    assert [m.template for m in store.messages()].count("sign_up_existing") == 1


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short1!", "at least 8"),
        ("password1", "most common"),
        ("iloveyou123", "most common"),
        ("my-alice-password", "sign-in name"),
        ("x" * 1025, "at most 1024"),
    ],
)
async def test_weak_passwords_are_refused(
    deps: Deps, store: FakeStore, password: str, why: str
) -> None:
    with pytest.raises(WeakPassword) as refused:
        await accounts.sign_up(deps, ALICE, password, CONTEXT)

    assert refused.value.code == "weak_password"
    assert why in refused.value.message
    assert store.accounts == {} and store.messages() == []


async def test_sign_in_with_the_right_password_opens_a_new_session(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    first, _ = await create_account(deps, ALICE)
    clock.advance(timedelta(hours=1))

    result = await signin.sign_in(
        deps, " alice@EXAMPLE.COM ", GOOD_PASSWORD, on_device(CONTEXT, first)
    )

    assert result.challenge is None and result.session is not None
    second = result.session
    assert second.session.account_id == first.session.account_id
    assert second.token != first.token
    assert second.device_token is None  # the device was known already
    assert store.accounts[first.session.account_id].last_sign_in_at == clock.now()
    assert store.events(first.session.account_id)[-1].type == EventTag.SIGN_IN_SUCCESS


async def test_a_wrong_password_is_refused_and_recorded(
    deps: Deps, store: FakeStore, passwords: FakePasswords
) -> None:
    new_session, _ = await create_account(deps, ALICE)
    sessions_before = len(store.sessions)

    with pytest.raises(InvalidCredentials):
        await signin.sign_in(deps, ALICE, "not the password at all", CONTEXT)

    assert len(store.sessions) == sessions_before
    event = store.events(new_session.session.account_id)[-1]
    assert (event.type, event.outcome) == (EventTag.SIGN_IN_FAILURE, "wrong_password")
    assert (event.ip, event.user_agent) == (CONTEXT.ip, CONTEXT.user_agent)
    assert passwords.burns == 0


@pytest.mark.parametrize("name", ["nobody@example.com", "+14155550100", "not an address@"])
async def test_an_unknown_name_is_refused_after_the_same_hashing_work(
    deps: Deps, store: FakeStore, passwords: FakePasswords, name: str
) -> None:
    await create_account(deps, ALICE)

    with pytest.raises(InvalidCredentials) as refused:
        await signin.sign_in(deps, name, GOOD_PASSWORD, CONTEXT)

    assert passwords.burns == 1
    assert refused.value.message == InvalidCredentials.default_message


async def test_an_unconfirmed_account_cannot_sign_in(deps: Deps, passwords: FakePasswords) -> None:
    await accounts.sign_up(deps, ALICE, GOOD_PASSWORD, CONTEXT)

    with pytest.raises(InvalidCredentials):
        await signin.sign_in(deps, ALICE, GOOD_PASSWORD, CONTEXT)
    assert passwords.burns == 1


async def test_sign_out_ends_only_this_session(deps: Deps, store: FakeStore) -> None:
    first, _ = await create_account(deps, ALICE)
    second = await sign_in(deps, ALICE, GOOD_PASSWORD, on_device(CONTEXT, first))

    await accounts.sign_out(deps, await accounts.authenticate(deps, first.token), CONTEXT)

    with pytest.raises(Unauthenticated):
        await accounts.authenticate(deps, first.token)
    assert (await accounts.authenticate(deps, second.token)).id == second.session.id
    assert store.events(first.session.account_id)[-1].type == EventTag.SIGN_OUT


async def test_sign_out_everywhere_ends_every_session_of_the_account(
    deps: Deps, store: FakeStore
) -> None:
    first, _ = await create_account(deps, ALICE)
    second = await sign_in(deps, ALICE, GOOD_PASSWORD, on_device(CONTEXT, first))
    bob, _ = await create_account(deps, "bob@example.com")

    count = await accounts.sign_out_everywhere(deps, second.session, CONTEXT)

    assert count == 2
    for token in (first.token, second.token):
        with pytest.raises(Unauthenticated):
            await accounts.authenticate(deps, token)
    assert (await accounts.authenticate(deps, bob.token)).account_id == bob.session.account_id
    event = store.events(first.session.account_id)[-1]
    assert (event.type, event.details) == (EventTag.SIGN_OUT_EVERYWHERE, {"sessions": 2})


async def test_a_session_ends_when_its_lifetime_is_over(deps: Deps, clock: FakeClock) -> None:
    new_session, _ = await create_account(deps, ALICE)

    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert (await accounts.authenticate(deps, new_session.token)).id == new_session.session.id
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(deps, new_session.token)


async def test_the_client_address_a_library_caller_passes_is_the_one_limited(
    uow_factory: FakeUnitOfWorkFactory, clock: FakeClock, passwords: FakePasswords
) -> None:
    """The per-network send limit counts the address each call is given: no hidden
    per-request variable, so a library or CLI caller's address is limited too."""
    from secinfo.adapters.ratelimit.limiter import memory_limiter
    from secinfo.domain.limits import DEFAULT_LIMITS

    deps = make_deps(
        uow=uow_factory,
        clock=clock,
        passwords=passwords,
        limiter=memory_limiter(DEFAULT_LIMITS, key_secret=b"k" * 32),
    )
    # 20 codes an hour from one network (code.send.ip): 10 sign-ups (their own limit is
    # 10 an hour per network) and a resend for each.
    crowd = RequestContext(ip="198.51.100.20", user_agent="pytest")
    started = [
        await accounts.sign_up(deps, f"user{n}@example.com", GOOD_PASSWORD, crowd)
        for n in range(10)
    ]
    clock.advance(timedelta(minutes=2))
    for each in started:
        await accounts.resend_sign_up_code(deps, each.verification_id, client_ip=crowd.ip)
    clock.advance(timedelta(minutes=2))
    with pytest.raises(TooManyRequests) as refused:
        await accounts.resend_sign_up_code(deps, started[0].verification_id, client_ip=crowd.ip)
    assert refused.value.details["limit"] == "code.send.ip"
    # The same resend from another network goes through: the address limited is the one
    # the caller passes, not one left behind by an earlier request.
    await accounts.resend_sign_up_code(deps, started[1].verification_id, client_ip="198.51.100.21")


async def test_a_sign_in_holding_an_old_copy_of_the_account_undoes_nothing(
    deps: Deps, clock: FakeClock
) -> None:
    """A sign-in reads the account, checks the password (slow), then opens the session.
    A password change, 2-step turned on, or a reset asked for meanwhile all stay: the
    session writes its sign-in time, not its old copy of the account."""
    opened, _ = await create_account(deps, ALICE)
    account_id = opened.session.account_id
    async with deps.uow() as uow:
        checked = await uow.accounts.get(account_id)
    assert checked is not None
    async with deps.uow() as uow:
        meanwhile = await uow.accounts.get(account_id)
        assert meanwhile is not None
        meanwhile.password_hash = FakePasswords.PREFIX + "a new passphrase 2"
        meanwhile.two_step_enabled = True
        meanwhile.password_reset_required = True
        await uow.accounts.update(meanwhile)
        await uow.commit()
    clock.advance(timedelta(seconds=1))
    async with deps.uow() as uow:
        await accounts.open_session(deps, uow, checked, CONTEXT)
        await uow.commit()
    async with deps.uow() as uow:
        after = await uow.accounts.get(account_id)
    assert after is not None
    assert after.password_hash == FakePasswords.PREFIX + "a new passphrase 2"
    assert after.two_step_enabled and after.password_reset_required
    assert after.last_sign_in_at == clock.now()
