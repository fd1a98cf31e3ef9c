"""Unknown names look like real ones: decoy shapes follow the real accounts', and the
typed spelling of a name does not show in the masks."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from tests.fakes import FakeClock, FakeStore

from secinfo.domain.contacts import Channel
from secinfo.domain.errors import InvalidCredentials
from secinfo.domain.model import (
    Account,
    AccountStatus,
    InfoKind,
    InfoState,
    Recovery,
    RequestContext,
    SecurityInfo,
)
from secinfo.services import recovery, signin
from secinfo.services.deps import Deps, new_id
from secinfo.services.enumeration import PUBLIC_MAIL_DOMAINS, CommitTwin

CONTEXT = RequestContext(ip="203.0.113.7")

pytestmark = pytest.mark.anyio


def add_account(store: FakeStore, clock: FakeClock, *contacts: tuple[InfoKind, str]) -> str:
    """An active account whose first contact is its sign-in name."""
    account_id = new_id("acc")
    store.accounts[account_id] = Account(
        id=account_id, password_hash="x", status=AccountStatus.ACTIVE, created_at=clock.now()
    )
    for position, (kind, value) in enumerate(contacts):
        item_id = new_id("si")
        store.security_info[item_id] = SecurityInfo(
            id=item_id,
            account_id=account_id,
            kind=kind,
            value=value,
            state=InfoState.ACTIVE,
            added_at=clock.now() + timedelta(seconds=position),
            sign_in=position == 0,
            verified_at=clock.now(),
        )
    return account_id


def population(store: FakeStore, clock: FakeClock) -> None:
    """60 % email only, 30 % with a US phone, 10 % with an alternate email."""
    for n in range(30):
        add_account(store, clock, (InfoKind.EMAIL, f"only{n}@example.org"))
    for n in range(15):
        add_account(
            store,
            clock,
            (InfoKind.EMAIL, f"phone{n}@example.org"),
            (InfoKind.PHONE, f"+1415555{n:04d}"),
        )
    for n in range(5):
        add_account(
            store,
            clock,
            (InfoKind.EMAIL, f"alt{n}@example.org"),
            (InfoKind.EMAIL, f"private{n}@secret-corp.example"),
        )


def shape(started: Recovery) -> tuple[str, ...]:
    return tuple(
        "email" if contact.channel is Channel.EMAIL else f"sms:{len(contact.masked)}"
        for contact in started.contacts
    )


async def test_decoys_follow_the_shapes_of_the_real_accounts(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    population(store, clock)
    shapes = Counter(
        [shape(await recovery.start(deps, f"ghost{n}@example.com", CONTEXT)) for n in range(400)]
    )

    expected = {("email",): 0.6, ("email", "sms:11"): 0.3, ("email", "email"): 0.1}
    assert set(shapes) == set(expected), shapes
    chi_square = sum(
        (shapes[key] - 400 * share) ** 2 / (400 * share) for key, share in expected.items()
    )
    assert chi_square < 13.8, shapes  # 2 degrees of freedom, p = 0.001


async def test_a_real_account_and_an_unknown_name_of_its_shape_look_alike(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    population(store, clock)
    real = await recovery.start(deps, "phone3@example.org", CONTEXT)
    answers = [await recovery.start(deps, f"ghost{n}@example.org", CONTEXT) for n in range(200)]
    look_alike = next(
        started
        for started in answers
        if len(started.contacts) == 2 and started.contacts[1].channel is Channel.SMS
    )

    assert shape(real) == shape(look_alike)
    assert [len(c.masked) for c in real.contacts] == [len(c.masked) for c in look_alike.contacts]
    assert look_alike.contacts[1].masked[:-2] == real.contacts[1].masked[:-2] == "*" * 9


async def test_a_decoy_shows_no_real_accounts_domain_and_is_stable_per_name(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    population(store, clock)
    alternates = []
    for n in range(300):
        first = await recovery.start(deps, f"ghost{n}@example.com", CONTEXT)
        again = await recovery.start(deps, f"GHOST{n}@example.com", CONTEXT)
        assert [(c.channel, c.masked) for c in first.contacts] == [
            (c.channel, c.masked) for c in again.contacts
        ]
        alternates += [c.masked for c in first.contacts[1:] if c.channel is Channel.EMAIL]
    assert alternates, "some decoys have an alternate email"
    assert all(masked.partition("@")[2] in PUBLIC_MAIL_DOMAINS for masked in alternates)
    assert not any("secret-corp" in masked for masked in alternates)


async def test_how_a_name_is_typed_does_not_show_whether_it_exists(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    add_account(store, clock, (InfoKind.EMAIL, "Alice@example.com"))
    real = await recovery.start(deps, "ALICE@example.com", CONTEXT)
    unknown = await recovery.start(deps, "NOBODY@example.com", CONTEXT)

    assert real.account_id is not None and unknown.account_id is None
    assert real.contacts[0].masked == "al*****@example.com"
    assert unknown.contacts[0].masked == "no*****@example.com"


async def test_the_sample_is_read_again_after_ten_minutes(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    add_account(store, clock, (InfoKind.EMAIL, "solo@example.org"))
    before = {len((await recovery.start(deps, f"g{n}@x.org", CONTEXT)).contacts) for n in range(50)}
    for n in range(20):
        add_account(
            store, clock, (InfoKind.EMAIL, f"p{n}@example.org"), (InfoKind.PHONE, f"+4930{n:07d}")
        )
    clock.advance(timedelta(minutes=9))
    unchanged = {
        len((await recovery.start(deps, f"g{n}@x.org", CONTEXT)).contacts) for n in range(50)
    }
    clock.advance(timedelta(minutes=1))
    after = {len((await recovery.start(deps, f"g{n}@x.org", CONTEXT)).contacts) for n in range(50)}

    assert before == unchanged == {1}
    assert after == {1, 2}


async def test_with_no_accounts_yet_a_decoy_is_the_name_alone(deps: Deps) -> None:
    started = await recovery.start(deps, "+14155550100", CONTEXT)
    assert [(c.channel, c.masked) for c in started.contacts] == [(Channel.SMS, "*********00")]


async def test_an_unknown_name_leaves_no_record_on_the_stand_in_account(
    deps: Deps, store: FakeStore, clock: FakeClock
) -> None:
    population(store, clock)
    recorded_before = len(store.activity)
    for n in range(5):
        with pytest.raises(InvalidCredentials):
            await signin.sign_in(deps, f"ghost{n}@example.com", "a wrong password", CONTEXT)

    assert len(store.activity) == recorded_before


def test_the_commit_twin_waits_out_the_difference() -> None:
    twin = CommitTwin()
    began = time.perf_counter()
    twin.pad(0.0)
    assert time.perf_counter() - began < 0.001, "nothing observed yet: no wait"

    twin.observe(0.002)
    began = time.perf_counter()
    twin.pad(0.0005)
    assert 0.0014 < time.perf_counter() - began < 0.05  # (a loaded machine may preempt it)
    began = time.perf_counter()
    twin.pad(0.003)
    assert time.perf_counter() - began < 0.001, "already as slow as a commit"
