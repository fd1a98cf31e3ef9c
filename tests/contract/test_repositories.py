"""One repository suite, run on the in-memory fakes the unit tests use and on the SQL
repositories (SQLite and PostgreSQL): the fakes cannot drift from what the database does
without a test here failing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from secinfo.adapters.migrations import migrate
from secinfo.bootstrap import build
from secinfo.domain.model import (
    Account,
    AccountStatus,
    ActivityEvent,
    ChangeKind,
    ChangeStatus,
    InfoKind,
    InfoState,
    PendingChange,
    SecurityInfo,
    Session,
)
from secinfo.ports import UnitOfWorkFactory
from tests.conftest import empty_tables, make_settings
from tests.fakes import FakeUnitOfWorkFactory

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["fakes", "sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the suite runs: the fakes, or a database URL (sync, as the PostgreSQL
    fixture runs its own event loop)."""
    if request.param == "fakes":
        return "fakes"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def uow(target: str, tmp_path: Path) -> AsyncIterator[UnitOfWorkFactory]:
    if target == "fakes":
        yield FakeUnitOfWorkFactory()
        return
    app = build(make_settings(target, tmp_path))
    await (migrate(app.engine) if target.startswith("sqlite") else empty_tables(app))
    try:
        yield app.deps.uow
    finally:
        await app.close()


def account(account_id: str = "acc_1") -> Account:
    return Account(
        id=account_id, password_hash="argon2-hash", status=AccountStatus.ACTIVE, created_at=NOW
    )


def item(item_id: str, value: str, **fields: object) -> SecurityInfo:
    values: dict[str, object] = {
        "id": item_id,
        "account_id": "acc_1",
        "kind": InfoKind.EMAIL,
        "value": value,
        "state": InfoState.ACTIVE,
        "added_at": NOW,
        "verified_at": NOW,
    }
    return SecurityInfo(**(values | fields))  # type: ignore[arg-type]


async def with_account(uow: UnitOfWorkFactory, *items: SecurityInfo) -> None:
    async with uow() as unit:
        await unit.accounts.add(account())
        for each in items:
            await unit.security_info.add(each)
        await unit.commit()


async def test_an_account_reads_back_as_written_and_updates(uow: UnitOfWorkFactory) -> None:
    await with_account(uow)
    async with uow() as unit:
        stored = await unit.accounts.get("acc_1")
        assert stored == account()
        assert stored is not None
        stored.two_step_enabled = True
        stored.last_sign_in_at = NOW + timedelta(hours=1)
        await unit.accounts.update(stored)
        await unit.commit()
    async with uow() as unit:
        again = await unit.accounts.get("acc_1")
    assert again is not None and again.two_step_enabled
    assert again.last_sign_in_at == NOW + timedelta(hours=1)
    assert again.last_sign_in_at.tzinfo is not None


async def test_a_password_hash_is_replaced_only_if_still_the_expected_one(
    uow: UnitOfWorkFactory,
) -> None:
    await with_account(uow)
    async with uow() as unit:
        assert not await unit.accounts.replace_password_hash("acc_1", "changed meanwhile", "x")
        assert not await unit.accounts.replace_password_hash("acc_none", "argon2-hash", "x")
        assert await unit.accounts.replace_password_hash("acc_1", "argon2-hash", "rehashed")
        await unit.commit()
    async with uow() as unit:
        stored = await unit.accounts.get("acc_1")
    assert stored is not None and stored.password_hash == "rehashed"
    assert stored.status is AccountStatus.ACTIVE  # nothing else was written


async def test_a_lock_is_written_only_by_lock_and_unlock(uow: UnitOfWorkFactory) -> None:
    await with_account(uow)
    async with uow() as unit:
        stale = await unit.accounts.get("acc_1")
        assert await unit.accounts.lock("acc_1", NOW, "fraud report", "support-desk")
        assert not await unit.accounts.lock("acc_1", NOW, "again", "other")  # locked already
        assert not await unit.accounts.lock("acc_none", NOW, None, "support-desk")
        await unit.commit()
    assert stale is not None and not stale.locked
    async with uow() as unit:
        stale.two_step_enabled = True  # a sign-in's older copy, written back
        await unit.accounts.update(stale)
        await unit.commit()
    async with uow() as unit:
        locked = await unit.accounts.get("acc_1")
    assert locked is not None and locked.two_step_enabled
    assert (locked.locked_at, locked.locked_reason, locked.locked_by) == (
        NOW,
        "fraud report",
        "support-desk",
    )
    async with uow() as unit:
        assert await unit.accounts.unlock("acc_1")
        assert not await unit.accounts.unlock("acc_1")
        await unit.commit()
    async with uow() as unit:
        unlocked = await unit.accounts.get("acc_1")
    assert unlocked is not None and not unlocked.locked and unlocked.locked_reason is None


async def test_a_sign_in_writes_only_its_own_times(uow: UnitOfWorkFactory) -> None:
    """record_sign_in and set_reconfirm change only their own columns: a setting
    written meanwhile (here: the password hash, 2-step) stays."""
    await with_account(uow)
    async with uow() as unit:
        meanwhile = await unit.accounts.get("acc_1")
        assert meanwhile is not None
        meanwhile.password_hash = "changed-meanwhile"
        meanwhile.two_step_enabled = True
        await unit.accounts.update(meanwhile)
        await unit.commit()
    later = NOW + timedelta(minutes=5)
    async with uow() as unit:
        await unit.accounts.record_sign_in("acc_1", later)
        await unit.accounts.set_reconfirm("acc_1", NOW, later)
        await unit.commit()
    async with uow() as unit:
        after = await unit.accounts.get("acc_1")
    assert after is not None
    assert (after.password_hash, after.two_step_enabled) == ("changed-meanwhile", True)
    assert (after.last_sign_in_at, after.reconfirm_prompted_at) == (later, NOW)
    assert after.reconfirm_skipped_until == later


async def test_leaving_without_commit_writes_nothing(uow: UnitOfWorkFactory) -> None:
    async with uow() as unit:
        await unit.accounts.add(account("acc_lost"))
    async with uow() as unit:
        assert await unit.accounts.get("acc_lost") is None


async def test_the_list_holds_items_not_removed_oldest_first(uow: UnitOfWorkFactory) -> None:
    await with_account(
        uow,
        item("inf_b", "b@example.com", added_at=NOW + timedelta(minutes=2)),
        item("inf_a", "a@example.com", added_at=NOW + timedelta(minutes=1)),
        item("inf_gone", "gone@example.com", state=InfoState.REMOVED, removed_at=NOW),
    )
    async with uow() as unit:
        listed = await unit.security_info.list_for_account("acc_1")
        removed = await unit.security_info.get("inf_gone")
    assert [each.id for each in listed] == ["inf_a", "inf_b"]
    assert removed is not None and removed.state is InfoState.REMOVED  # get sees removed ones


async def test_a_sample_holds_whole_active_accounts_oldest_first(
    uow: UnitOfWorkFactory,
) -> None:
    await with_account(
        uow,
        item("inf_b", "b@example.com", added_at=NOW + timedelta(minutes=2)),
        item("inf_a", "a@example.com", added_at=NOW + timedelta(minutes=1)),
        item("inf_gone", "gone@example.com", state=InfoState.REMOVED, removed_at=NOW),
    )
    async with uow() as unit:
        for n in range(6):
            await unit.accounts.add(account(f"acc_more{n}"))
            await unit.security_info.add(
                item(f"inf_m{n}", f"m{n}@x.org", account_id=f"acc_more{n}")
            )
        closed = account("acc_closed")
        closed.status = AccountStatus.DISABLED
        await unit.accounts.add(closed)
        await unit.security_info.add(item("inf_closed", "c@x.org", account_id="acc_closed"))
        await unit.commit()
    async with uow() as unit:
        everyone = await unit.security_info.sample_accounts(100)
        some = await unit.security_info.sample_accounts(3)
    by_account = {items[0].account_id: [each.id for each in items] for items in everyone}
    assert by_account.pop("acc_1") == ["inf_a", "inf_b"]
    assert by_account == {f"acc_more{n}": [f"inf_m{n}"] for n in range(6)}
    assert len(some) == 3 and all(len({each.account_id for each in items}) == 1 for items in some)


async def test_a_sign_in_name_is_found_only_while_switched_on(uow: UnitOfWorkFactory) -> None:
    await with_account(uow, item("inf_a", "Ann@example.com", sign_in=True))
    async with uow() as unit:
        found = await unit.security_info.find_sign_in_name("Ann@example.com")
        assert found is not None and found.id == "inf_a"
        assert await unit.security_info.find_sign_in_account("ann@EXAMPLE.com") == "acc_1"
        found.sign_in = False
        await unit.security_info.update(found)
        await unit.commit()
    async with uow() as unit:
        assert await unit.security_info.find_sign_in_name("Ann@example.com") is None
        assert await unit.security_info.find_sign_in_name("nobody@example.com") is None
        assert await unit.security_info.find_sign_in_account("Ann@example.com") is None


async def test_a_totp_step_is_claimed_once_and_only_forward(uow: UnitOfWorkFactory) -> None:
    authenticator = item(
        "inf_totp", "Phone app", kind=InfoKind.AUTHENTICATOR, secret="sealed-secret"
    )
    await with_account(uow, authenticator)
    outcomes = []
    for step in (10, 10, 9, 11):
        async with uow() as unit:
            stored = await unit.security_info.get("inf_totp")
            assert stored is not None
            outcomes.append(await unit.security_info.claim_step(stored, step))
            await unit.commit()
    assert outcomes == [True, False, False, True]
    async with uow() as unit:
        stored = await unit.security_info.get("inf_totp")
    assert stored is not None and stored.last_step == 11


async def test_a_secret_is_replaced_only_from_the_expected_one(uow: UnitOfWorkFactory) -> None:
    code = item("inf_rc", "Recovery code", kind=InfoKind.RECOVERY_CODE, secret="hash-1")
    await with_account(uow, code)
    async with uow() as unit:
        stored = await unit.security_info.get("inf_rc")
        assert stored is not None
        assert await unit.security_info.replace_secret(stored, "hash-1", "hash-2")
        assert not await unit.security_info.replace_secret(stored, "hash-1", "hash-3")
        await unit.commit()
    async with uow() as unit:
        stored = await unit.security_info.get("inf_rc")
    assert stored is not None and stored.secret == "hash-2"


async def test_activity_pages_newest_first_and_is_purged(uow: UnitOfWorkFactory) -> None:
    await with_account(uow)
    async with uow() as unit:
        for n in range(5):
            await unit.activity.add(
                ActivityEvent(
                    id=f"evt_{n}",
                    account_id="acc_1",
                    type="account:sign_in:success" if n % 2 else "account:code:sent",
                    created_at=NOW + timedelta(days=n),
                    details={"n": n},
                )
            )
        await unit.commit()
    async with uow() as unit:
        first = await unit.activity.list_for_account("acc_1", 2)
        second = await unit.activity.list_for_account("acc_1", 2, before=first[-1].id)
        counted = await unit.activity.count_since(
            "acc_1", "account:sign_in:success", NOW + timedelta(days=2)
        )
    assert [event.id for event in first] == ["evt_4", "evt_3"]
    assert [event.id for event in second] == ["evt_2", "evt_1"]
    assert second[0].details == {"n": 2}
    assert counted == 1  # evt_3 only
    async with uow() as unit:
        purged = await unit.activity.purge_before(NOW + timedelta(days=2))
        await unit.commit()
    async with uow() as unit:
        left = await unit.activity.list_for_account("acc_1", 10)
    assert purged == 2
    assert [event.id for event in left] == ["evt_4", "evt_3", "evt_2"]


async def test_a_pending_change_ends_once(uow: UnitOfWorkFactory) -> None:
    await with_account(uow, item("inf_a", "a@example.com"))
    change = PendingChange(
        id="chg_1",
        account_id="acc_1",
        kind=ChangeKind.REMOVE_ALL,
        created_at=NOW,
        ends_at=NOW + timedelta(days=30),
        next_reminder_at=NOW + timedelta(days=7),
        item_ids=["inf_a"],
    )
    async with uow() as unit:
        await unit.pending_changes.add(change)
        await unit.commit()
    async with uow() as unit:
        pending = await unit.pending_changes.pending_for_account("acc_1")
        assert pending is not None and pending.item_ids == ["inf_a"]
        assert await unit.pending_changes.due(NOW + timedelta(days=29), 10) == []
        due = await unit.pending_changes.due(NOW + timedelta(days=30), 10)
        assert [each.id for each in due] == ["chg_1"]
    for expected in (True, False):  # a second process finds it already ended
        async with uow() as unit:
            stored = await unit.pending_changes.get("chg_1")
            assert stored is not None
            stored.status = ChangeStatus.COMPLETED
            stored.completed_at = NOW + timedelta(days=30)
            assert await unit.pending_changes.finish(stored) is expected
            await unit.commit()
    async with uow() as unit:
        assert await unit.pending_changes.pending_for_account("acc_1") is None


async def test_signing_out_everywhere_can_keep_this_session(uow: UnitOfWorkFactory) -> None:
    await with_account(uow)
    async with uow() as unit:
        for n in range(3):
            await unit.sessions.add(
                Session(
                    id=f"ses_{n}",
                    account_id="acc_1",
                    token_hash=f"hash-{n}",
                    created_at=NOW,
                    expires_at=NOW + timedelta(days=30),
                    last_seen_at=NOW,
                )
            )
        await unit.commit()
    async with uow() as unit:
        revoked = await unit.sessions.revoke_all("acc_1", NOW, keep_session_id="ses_1")
        await unit.commit()
    async with uow() as unit:
        kept = await unit.sessions.get_by_token_hash("hash-1")
        ended = await unit.sessions.get("ses_0")
    assert revoked == 2
    assert kept is not None and kept.revoked_at is None
    assert ended is not None and ended.revoked_at == NOW


async def test_live_sessions_are_neither_revoked_nor_expired(uow: UnitOfWorkFactory) -> None:
    await with_account(uow)
    async with uow() as unit:
        for n, (ttl, revoked_at) in enumerate(
            [(timedelta(days=1), None), (timedelta(days=1), NOW), (timedelta(hours=1), None)]
        ):
            await unit.sessions.add(
                Session(
                    id=f"ses_{n}",
                    account_id="acc_1",
                    token_hash=f"hash-{n}",
                    created_at=NOW,
                    expires_at=NOW + ttl,
                    last_seen_at=NOW,
                    revoked_at=revoked_at,
                )
            )
        await unit.commit()
    async with uow() as unit:
        assert await unit.sessions.count_live("acc_1", NOW) == 2
        assert await unit.sessions.count_live("acc_1", NOW + timedelta(hours=2)) == 1
        assert await unit.sessions.count_live("acc_other", NOW) == 0


async def test_a_passkey_is_found_by_its_credential_id_which_is_unique(
    uow: UnitOfWorkFactory,
) -> None:
    passkey = item(
        "inf_p", "", kind=InfoKind.PASSKEY, credential_id="cred-A", public_key="pk", aaguid="x"
    )
    await with_account(uow, passkey)
    async with uow() as unit:
        found = await unit.security_info.find_passkey("cred-A")
        assert found is not None and found.id == "inf_p" and found.public_key == "pk"
        assert await unit.security_info.find_passkey("cred-B") is None
    with pytest.raises(Exception):  # noqa: B017 - the database's or the fake's own error
        async with uow() as unit:
            await unit.security_info.add(
                item("inf_q", "", kind=InfoKind.PASSKEY, credential_id="cred-A")
            )
            await unit.commit()


async def test_passkey_options_are_used_once_and_purged(uow: UnitOfWorkFactory) -> None:
    from secinfo.domain.model import PasskeyChallenge, PasskeyPurpose

    async with uow() as unit:
        await unit.passkey_challenges.add(
            PasskeyChallenge(
                id="pkc_1",
                purpose=PasskeyPurpose.SIGN_IN,
                challenge="abc",
                created_at=NOW,
                expires_at=NOW + timedelta(minutes=5),
            )
        )
        await unit.commit()
    async with uow() as unit:
        challenge = await unit.passkey_challenges.get("pkc_1")
        assert challenge is not None and challenge.purpose is PasskeyPurpose.SIGN_IN
        assert await unit.passkey_challenges.consume(challenge, NOW)
        assert not await unit.passkey_challenges.consume(challenge, NOW)
        await unit.commit()
    async with uow() as unit:
        stored = await unit.passkey_challenges.get("pkc_1")
        assert stored is not None and stored.used_at == NOW
        assert await unit.passkey_challenges.purge_before(NOW) == 0
        assert await unit.passkey_challenges.purge_before(NOW + timedelta(minutes=6)) == 1
        await unit.commit()
    async with uow() as unit:
        assert await unit.passkey_challenges.get("pkc_1") is None
