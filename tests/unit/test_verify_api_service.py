"""The Verify-style API for integrators: start, check, cancel, fetch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes import CODE_SECRET, FakeClock, FakeStore, latest_code, wrong_code

from secinfo.domain.contacts import Channel
from secinfo.domain.errors import (
    InvalidPhone,
    MaxAttemptsReached,
    MaxSendAttemptsReached,
    NotFound,
    ResendCooldown,
    VerificationNotPending,
)
from secinfo.domain.model import ApiKey, MessageStatus
from secinfo.domain.verification import Status, Verification
from secinfo.services import api_keys, verify_api
from secinfo.services.deps import Deps

pytestmark = pytest.mark.anyio

TO = "+14155550123"


@pytest.fixture
async def api_key(deps: Deps) -> ApiKey:
    return (await api_keys.create(deps, "shop")).api_key


@pytest.fixture
async def other_key(deps: Deps) -> ApiKey:
    return (await api_keys.create(deps, "another app")).api_key


async def test_start_sends_a_code_and_stores_only_its_hash(
    deps: Deps, store: FakeStore, api_key: ApiKey
) -> None:
    verification = await verify_api.start(deps, api_key, "+1 415-555-0123", Channel.SMS)

    assert (verification.destination, verification.status) == (TO, Status.PENDING)
    assert verification.api_key_id == api_key.id
    [message] = store.messages()
    assert (message.destination, message.template) == (TO, "code_integrator")
    assert message.carries_secret and message.verification_id == verification.id
    code = latest_code(store, TO)
    [sent] = store.verifications[verification.id].codes
    assert sent.code_hash == deps.codes.hash(verification.id, code)
    assert sent.code_hash != code


async def test_a_second_start_for_the_same_to_resends_on_the_same_verification(
    deps: Deps, store: FakeStore, clock: FakeClock, api_key: ApiKey
) -> None:
    first = await verify_api.start(deps, api_key, TO, Channel.SMS)
    first_code = latest_code(store, TO)
    clock.advance(timedelta(seconds=30))

    second = await verify_api.start(deps, api_key, "+1 (415) 555 0123", Channel.SMS)

    assert second.id == first.id
    assert second.send_attempts == 2
    assert len(store.verifications) == 1
    assert [m.verification_id for m in store.messages()] == [first.id, first.id]
    # A late first message still works: earlier codes stay valid until the end.
    outcome = await verify_api.check(deps, api_key, first.id, first_code)
    assert outcome.valid


async def test_a_repeated_start_inside_the_cool_down_is_refused(
    deps: Deps, store: FakeStore, clock: FakeClock, api_key: ApiKey
) -> None:
    verification = await verify_api.start(deps, api_key, TO, Channel.SMS)
    clock.advance(timedelta(seconds=12))

    with pytest.raises(ResendCooldown) as refused:
        await verify_api.start(deps, api_key, TO, Channel.SMS)

    assert refused.value.details["retry_after"] == 18
    assert refused.value.to_dict()["code"] == "resend_cooldown"
    assert len(store.messages()) == 1
    assert store.verifications[verification.id].send_attempts == 1


async def test_at_most_five_codes_are_sent_per_verification(
    deps: Deps, store: FakeStore, clock: FakeClock, api_key: ApiKey
) -> None:
    for _ in range(5):
        await verify_api.start(deps, api_key, TO, Channel.SMS)
        clock.advance(timedelta(seconds=31))

    with pytest.raises(MaxSendAttemptsReached):
        await verify_api.start(deps, api_key, TO, Channel.SMS)
    assert len(store.messages()) == 5


async def test_different_keys_and_destinations_get_their_own_verifications(
    deps: Deps, api_key: ApiKey, other_key: ApiKey
) -> None:
    first = await verify_api.start(deps, api_key, TO, Channel.SMS)
    for_other_key = await verify_api.start(deps, other_key, TO, Channel.SMS)
    for_email = await verify_api.start(deps, api_key, "someone@example.com", Channel.EMAIL)

    assert len({first.id, for_other_key.id, for_email.id}) == 3


async def test_a_valid_code_approves_once(deps: Deps, store: FakeStore, api_key: ApiKey) -> None:
    verification = await verify_api.start(deps, api_key, TO, Channel.SMS)
    code = latest_code(store, TO)

    outcome = await verify_api.check(deps, api_key, verification.id, f" {code[:3]}-{code[3:]} ")

    assert outcome.valid
    assert outcome.verification.status is Status.APPROVED
    assert store.verifications[verification.id].status is Status.APPROVED
    with pytest.raises(VerificationNotPending):
        await verify_api.check(deps, api_key, verification.id, code)


async def test_an_invalid_code_counts_down_the_attempts_left(
    deps: Deps, store: FakeStore, api_key: ApiKey
) -> None:
    verification = await verify_api.start(deps, api_key, TO, Channel.SMS)
    code = latest_code(store, TO)

    lefts = []
    for _ in range(4):
        outcome = await verify_api.check(deps, api_key, verification.id, wrong_code(code))
        assert not outcome.valid
        lefts.append(outcome.attempts_left)

    assert lefts == [4, 3, 2, 1]
    assert store.verifications[verification.id].status is Status.PENDING
    assert (await verify_api.check(deps, api_key, verification.id, code)).valid


async def test_five_wrong_codes_end_the_verification(
    deps: Deps, store: FakeStore, clock: FakeClock, api_key: ApiKey
) -> None:
    verification = await verify_api.start(deps, api_key, TO, Channel.SMS)
    code = latest_code(store, TO)
    for _ in range(5):
        outcome = await verify_api.check(deps, api_key, verification.id, wrong_code(code))

    assert outcome.attempts_left == 0
    assert outcome.verification.status is Status.MAX_ATTEMPTS_REACHED
    assert store.verifications[verification.id].status is Status.MAX_ATTEMPTS_REACHED
    with pytest.raises(MaxAttemptsReached):
        await verify_api.check(deps, api_key, verification.id, code)
    # A new start makes a new verification rather than reviving the ended one.
    clock.advance(timedelta(seconds=31))
    fresh = await verify_api.start(deps, api_key, TO, Channel.SMS)
    assert fresh.id != verification.id and fresh.check_attempts == 0


async def test_a_code_does_not_work_after_it_expires(
    deps: Deps, store: FakeStore, clock: FakeClock, api_key: ApiKey
) -> None:
    verification = await verify_api.start(deps, api_key, TO, Channel.SMS)
    code = latest_code(store, TO)
    clock.advance(timedelta(minutes=10))

    view = await verify_api.fetch(deps, api_key, verification.id)
    assert view.verification.current_status(clock.now()) is Status.EXPIRED
    with pytest.raises(VerificationNotPending):
        await verify_api.check(deps, api_key, verification.id, code)


async def test_cancel_ends_the_verification(deps: Deps, store: FakeStore, api_key: ApiKey) -> None:
    verification = await verify_api.start(deps, api_key, TO, Channel.SMS)
    code = latest_code(store, TO)

    canceled = await verify_api.cancel(deps, api_key, verification.id)

    assert canceled.status is Status.CANCELED
    assert store.verifications[verification.id].status is Status.CANCELED
    with pytest.raises(VerificationNotPending):
        await verify_api.check(deps, api_key, verification.id, code)
    with pytest.raises(VerificationNotPending):
        await verify_api.cancel(deps, api_key, verification.id)


async def test_fetch_shows_status_and_delivery(
    deps: Deps, store: FakeStore, api_key: ApiKey
) -> None:
    verification = await verify_api.start(deps, api_key, TO, Channel.SMS)

    view = await verify_api.fetch(deps, api_key, verification.id)

    assert view.verification.id == verification.id
    assert view.verification.status is Status.PENDING
    assert view.delivery_status is MessageStatus.QUEUED


async def test_another_api_key_cannot_see_or_touch_a_verification(
    deps: Deps, store: FakeStore, api_key: ApiKey, other_key: ApiKey
) -> None:
    verification = await verify_api.start(deps, api_key, TO, Channel.SMS)
    code = latest_code(store, TO)

    with pytest.raises(NotFound):
        await verify_api.fetch(deps, other_key, verification.id)
    with pytest.raises(NotFound):
        await verify_api.check(deps, other_key, verification.id, code)
    with pytest.raises(NotFound):
        await verify_api.cancel(deps, other_key, verification.id)
    with pytest.raises(NotFound):
        await verify_api.fetch(deps, api_key, "ver_does_not_exist")

    assert store.verifications[verification.id].status is Status.PENDING
    assert store.verifications[verification.id].check_attempts == 0


async def test_a_bad_destination_sends_nothing(
    deps: Deps, store: FakeStore, api_key: ApiKey
) -> None:
    with pytest.raises(InvalidPhone):
        await verify_api.start(deps, api_key, "+1 555", Channel.SMS)
    assert store.messages() == [] and store.verifications == {}


def _without_hashes(text: str, verification: Verification) -> str:
    for sent in verification.codes:
        text = text.replace(sent.code_hash, "<hash>")
    return text


async def test_codes_never_appear_in_what_the_services_return(
    deps: Deps, store: FakeStore, clock: FakeClock, api_key: ApiKey
) -> None:
    started = await verify_api.start(deps, api_key, TO, Channel.SMS)
    first = latest_code(store, TO)
    clock.advance(timedelta(seconds=30))
    resent = await verify_api.start(deps, api_key, TO, Channel.SMS)
    second = latest_code(store, TO)
    wrong = await verify_api.check(deps, api_key, started.id, wrong_code(second))
    view = await verify_api.fetch(deps, api_key, started.id)
    right = await verify_api.check(deps, api_key, started.id, second)

    stored = store.verifications[started.id]
    assert [sent.code_hash for sent in stored.codes] == [
        deps.codes.hash(started.id, first),
        deps.codes.hash(started.id, second),
    ]
    for returned in (started, resent, wrong, view, right):
        text = _without_hashes(repr(returned), stored)
        assert first not in text and second not in text
        assert "<hash>" in text  # the hashed form is what is shown
        assert CODE_SECRET.decode() not in text
