"""Authenticator apps (RFC 6238) and the recovery code: the domain rules, and the
services on the in-memory fakes."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime, timedelta

import anyio
import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fakes import (
    FakeClock,
    FakeStore,
    create_account,
    make_deps,
    messages_to,
    store_of,
)

from secinfo.domain import authenticators as totp
from secinfo.domain.codes import ALPHANUMERIC
from secinfo.domain.errors import (
    CodeNotSupported,
    InvalidCode,
    SecurityInfoChangePending,
    StepUpRequired,
    TooManyRequests,
    TwoStepNeedsTwoKinds,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import ChallengeReason, InfoKind, InfoState, RequestContext, Session
from secinfo.services import account_security, authenticators, security_info, signin, step_up
from secinfo.services.deps import Deps

pytestmark = pytest.mark.anyio

CONTEXT = RequestContext()
ALICE = "alice@example.com"
STEP_START = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)  # a multiple of 30 s


# -- domain -------------------------------------------------------------------------------


def test_a_secret_is_160_random_bits_of_base32() -> None:
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(base64.b32decode(secret)) == 20


def test_the_otpauth_uri_names_issuer_account_and_parameters() -> None:
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "al*****@example.com", "secinfo")
    assert uri.startswith("otpauth://totp/secinfo:al*****@example.com?")
    assert uri.endswith(
        "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=secinfo&algorithm=SHA1&digits=6&period=30"
    )
    parsed = pyotp.parse_uri(uri)
    assert parsed.issuer == "secinfo" and parsed.interval == 30 and parsed.digits == 6


def test_grouping_in_fours() -> None:
    assert totp.grouped("ABCDEFGHIJ") == "ABCD EFGH IJ"


def test_recovery_codes_are_25_characters_without_look_alikes_and_120_bits() -> None:
    code = totp.new_recovery_code()
    groups = code.split("-")
    assert [len(group) for group in groups] == [5] * 5
    assert set("".join(groups)) <= set(ALPHANUMERIC)
    assert not set("01OIL") & set(ALPHANUMERIC)
    assert 25 * math.log2(len(ALPHANUMERIC)) >= 120
    assert totp.looks_like_recovery_code(code.lower().replace("-", " "))


def test_one_step_either_side_is_accepted_two_are_not() -> None:
    secret = totp.new_secret()
    now = STEP_START + timedelta(seconds=10)
    current = totp.time_step(now)
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, totp.code_at_step(secret, current + offset), now, None)
    for offset in (-2, 2):
        code = totp.code_at_step(secret, current + offset)
        window = {totp.code_at_step(secret, current + o) for o in (-1, 0, 1)}
        if code not in window:  # 6-digit codes of two steps can coincide
            assert totp.matching_step(secret, code, now, None) is None


def test_a_step_is_accepted_once_and_never_an_earlier_one() -> None:
    secret = totp.new_secret()
    now = STEP_START + timedelta(seconds=10)
    current = totp.time_step(now)
    code = totp.code_at_step(secret, current)
    assert totp.matching_step(secret, code, now, None) == current
    assert totp.matching_step(secret, code, now, current) is None
    earlier = totp.code_at_step(secret, current - 1)
    if earlier != code:
        assert totp.matching_step(secret, earlier, now, current) is None
    assert totp.matching_step(secret, "12345", now, None) is None
    assert totp.matching_step(secret, "abcdef", now, None) is None


# Each operation: move the clock by some seconds, then type the code of a step relative
# to now (or replay the last code typed).
OPERATIONS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=95), st.one_of(st.integers(-3, 3), st.none())),
    min_size=1,
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(operations=OPERATIONS, start=st.integers(min_value=0, max_value=29))
def test_no_sequence_of_codes_clock_moves_and_replays_is_accepted_twice_or_outside_the_window(
    operations: list[tuple[int, int | None]], start: int
) -> None:
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    now = STEP_START + timedelta(seconds=start)
    last: int | None = None
    typed = totp.code_at_step(secret, totp.time_step(now))
    accepted: list[int] = []
    for seconds, offset in operations:
        now += timedelta(seconds=seconds)
        current = totp.time_step(now)
        if offset is not None:
            typed = totp.code_at_step(secret, current + offset)
        step = totp.matching_step(secret, typed, now, last)
        if step is None:
            continue
        assert abs(step - current) <= 1
        assert totp.code_at_step(secret, step) == typed
        assert step not in accepted and (last is None or step > last)
        accepted.append(step)
        last = step


# -- services on the fakes ------------------------------------------------------------------


class CountingLimiter:
    """Counts hits per (name, key); ``code.check.failures`` refuses from ``max_failures``."""

    def __init__(self, max_failures: int = 3) -> None:
        self.hits: dict[tuple[str, str], int] = {}
        self.max_failures = max_failures

    async def hit(self, name: str, key: str) -> None:
        self.hits[(name, key)] = self.hits.get((name, key), 0) + 1
        if name == "code.check.failures" and self.hits[(name, key)] > self.max_failures:
            raise TooManyRequests()

    async def check(self, name: str, key: str) -> None:
        if name == "code.check.failures" and self.hits.get((name, key), 0) >= self.max_failures:
            raise TooManyRequests()

    async def clear(self, name: str, key: str) -> None:
        self.hits.pop((name, key), None)

    async def incr(self, key: str, expiry_seconds: int) -> int:
        return 0

    async def get(self, key: str) -> int:
        return 0


async def privileged(deps: Deps, session: Session) -> Session:
    session.privileged_until = deps.clock.now() + timedelta(minutes=10)
    async with deps.uow() as uow:
        await uow.sessions.update(session)
        await uow.commit()
    return session


async def enrolled(deps: Deps, clock: FakeClock) -> tuple[Session, str, str]:
    """An account with an active authenticator: (session, item id, secret)."""
    clock.set(STEP_START + timedelta(seconds=5))
    new_session, _ = await create_account(deps, ALICE)
    session = await privileged(deps, new_session.session)
    enrollment = await authenticators.add_authenticator(deps, session, " Phone  app ", CONTEXT)
    assert enrollment.item.state is InfoState.PENDING
    code = pyotp.TOTP(enrollment.secret).at(clock.now())
    item = await authenticators.activate_authenticator(
        deps, session, enrollment.item.id, code, CONTEXT
    )
    assert item.state is InfoState.ACTIVE
    return session, item.id, enrollment.secret


def code_now(secret: str, clock: FakeClock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=30 * steps))


async def test_adding_needs_step_up_and_the_secret_is_kept_for_checks_only(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    _, item_id, secret = await enrolled(deps, clock)
    new_session, _ = await create_account(deps, "bob@example.com")
    with pytest.raises(StepUpRequired):
        await authenticators.add_authenticator(deps, new_session.session, None, CONTEXT)
    with pytest.raises(StepUpRequired):
        await authenticators.issue_recovery_code(deps, new_session.session, CONTEXT)
    stored = store.security_info[item_id]
    assert stored.secret == secret and stored.label == "Phone app"
    assert secret not in repr(stored)
    assert messages_to(store, ALICE)[-1] == "security_info_added"
    body = messages_to(store, ALICE, "security_info_added")[-1]
    assert "An authenticator app was added to your account: Phone app." in body
    events = [e for e in store.events() if e.type == EventTag.SECURITY_INFO_VERIFIED.value]
    assert events[-1].details["label"] == "Phone app"


async def test_a_plain_update_never_brings_back_a_used_step(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    session, item_id, secret = await enrolled(deps, clock)
    async with deps.uow() as uow:
        stale = await uow.security_info.get(item_id)
    clock.advance(timedelta(seconds=30))
    code = code_now(secret, clock)
    await step_up.check_held(deps, session, item_id, code, CONTEXT)
    assert stale is not None
    stale.label = "Renamed"
    async with deps.uow() as uow:
        await uow.security_info.update(stale)  # a label edit from an older read
        await uow.commit()
    assert store.security_info[item_id].last_step == totp.time_step(clock.now())
    with pytest.raises(InvalidCode):
        await step_up.check_held(deps, session, item_id, code, CONTEXT)


async def test_wrong_codes_count_against_the_per_account_check_limits(clock: FakeClock) -> None:
    limiter = CountingLimiter(max_failures=3)
    deps = make_deps(clock=clock, limiter=limiter)
    session, item_id, secret = await enrolled(deps, clock)
    account = session.account_id
    clock.advance(timedelta(seconds=30))
    wrong = "000000" if code_now(secret, clock) != "000000" else "111111"
    for _ in range(3):
        with pytest.raises(InvalidCode):
            await step_up.check_held(deps, session, item_id, wrong, CONTEXT)
    assert limiter.hits[("code.check.failures", account)] == 3
    # The next check is refused before the code is looked at, even a right one.
    with pytest.raises(TooManyRequests):
        await step_up.check_held(deps, session, item_id, code_now(secret, clock), CONTEXT)
    limiter.hits.clear()
    await step_up.check_held(deps, session, item_id, code_now(secret, clock), CONTEXT)
    assert ("code.check.failures", account) not in limiter.hits
    assert limiter.hits[("code.check.account", account)] == 1


async def test_email_and_phone_keep_their_two_call_step_up(deps: Deps, clock: FakeClock) -> None:
    new_session, email = await create_account(deps, ALICE)
    with pytest.raises(CodeNotSupported):
        await step_up.check_held(deps, new_session.session, email.id, "123456", CONTEXT)


async def test_two_step_counts_an_authenticator_but_not_the_recovery_code(
    deps: Deps, clock: FakeClock
) -> None:
    new_session, _ = await create_account(deps, ALICE)
    session = await privileged(deps, new_session.session)
    await authenticators.issue_recovery_code(deps, session, CONTEXT)
    with pytest.raises(TwoStepNeedsTwoKinds):
        await account_security.set_two_step(deps, session, True, CONTEXT)
    clock.set(STEP_START + timedelta(seconds=5))
    enrollment = await authenticators.add_authenticator(deps, session, None, CONTEXT)
    await authenticators.activate_authenticator(
        deps, session, enrollment.item.id, code_now(enrollment.secret, clock), CONTEXT
    )
    assert await account_security.set_two_step(deps, session, True, CONTEXT)
    # The authenticator can't go while it is one of the two kinds.
    with pytest.raises(TwoStepNeedsTwoKinds):
        await security_info.remove(deps, session, enrollment.item.id, CONTEXT)

    result = await signin.sign_in(deps, ALICE, "correct horse battery staple", CONTEXT)
    assert result.challenge is not None
    assert result.challenge.challenge.reason is ChallengeReason.TWO_STEP
    kinds = [item.kind for item in result.challenge.options]
    assert kinds == [InfoKind.AUTHENTICATOR, InfoKind.EMAIL, InfoKind.RECOVERY_CODE]


async def test_the_reconfirm_prompt_counts_an_authenticator_use(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    _, item_id, secret = await enrolled(deps, clock)
    long_ago = clock.now() - timedelta(days=400)
    for item in store.security_info.values():  # nothing proved for more than a year
        item.verified_at = item.last_used_at = long_ago
    result = await signin.sign_in(deps, ALICE, "correct horse battery staple", CONTEXT)
    assert result.challenge is not None
    challenge = result.challenge.challenge
    assert challenge.reason is ChallengeReason.RECONFIRM
    clock.advance(timedelta(seconds=30))
    held = await signin.verify_held(deps, challenge.id, item_id, code_now(secret, clock), CONTEXT)
    assert held.new_recovery_code is None
    reconfirmed = [e for e in store.events() if e.type == EventTag.RECONFIRMED.value]
    assert reconfirmed[-1].details == {"item_id": item_id, "label": "Phone app"}
    # The next sign-in does not ask again.
    again = await signin.sign_in(deps, ALICE, "correct horse battery staple", CONTEXT)
    assert again.session is not None


async def test_a_recovery_code_is_consumed_and_replaced(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    new_session, _ = await create_account(deps, ALICE)
    session = await privileged(deps, new_session.session)
    issued = await authenticators.issue_recovery_code(deps, session, CONTEXT)
    stored = store.security_info[issued.item.id]
    assert stored.secret and issued.code not in stored.secret  # a keyed hash only
    first = await step_up.check_held(deps, session, issued.item.id, issued.code, CONTEXT)
    assert first.new_recovery_code and first.new_recovery_code != issued.code
    with pytest.raises(InvalidCode):
        await step_up.check_held(deps, session, issued.item.id, issued.code, CONTEXT)
    assert messages_to(store, ALICE)[-1] == "recovery_code_used"
    again = await authenticators.issue_recovery_code(deps, session, CONTEXT)
    assert again.item.id == issued.item.id
    assert messages_to(store, ALICE)[-1] == "recovery_code_replaced"
    with pytest.raises(InvalidCode):
        await step_up.check_held(deps, session, issued.item.id, first.new_recovery_code, CONTEXT)


async def test_adding_is_refused_while_a_change_waits(deps: Deps, clock: FakeClock) -> None:
    session, _, _ = await enrolled(deps, clock)
    await security_info.remove_all(deps, session, CONTEXT)
    with pytest.raises(SecurityInfoChangePending):
        await authenticators.add_authenticator(deps, session, None, CONTEXT)
    with pytest.raises(SecurityInfoChangePending):
        await authenticators.issue_recovery_code(deps, session, CONTEXT)
    items = [item for item in store_of(deps).security_info.values()]
    assert {item.state for item in items} == {InfoState.REMOVAL_PENDING}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS)
def test_through_the_service_no_code_is_accepted_twice_or_outside_the_window(
    operations: list[tuple[int, int | None]],
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        deps = make_deps(clock=clock)
        session, item_id, secret = await enrolled(deps, clock)
        accepted = [totp.time_step(clock.now())]
        typed = code_now(secret, clock)
        for seconds, offset in operations:
            clock.advance(timedelta(seconds=seconds))
            current = totp.time_step(clock.now())
            if offset is not None:
                typed = code_now(secret, clock, offset)
            try:
                await step_up.check_held(deps, session, item_id, typed, CONTEXT)
            except InvalidCode:
                continue
            step = store_of(deps).security_info[item_id].last_step
            assert step is not None
            assert abs(step - current) <= 1
            assert step > accepted[-1]
            accepted.append(step)

    anyio.run(scenario)
