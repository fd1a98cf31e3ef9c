"""The benchmark's mailbox tail: every code reaches its waiter once, rows committed out of
id order included, and a poll reads only rows it has not seen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from bench.http import mailbox
from bench.http.mailbox import MailboxTail

pytestmark = pytest.mark.anyio


def _database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE dev_mailbox (id INTEGER PRIMARY KEY, destination TEXT, body TEXT)")
    db.execute("INSERT INTO dev_mailbox VALUES (1, 'old@example.com', 'Your code is: 000000')")
    return db


def _deliver(db: sqlite3.Connection, row_id: int) -> None:
    db.execute(
        "INSERT INTO dev_mailbox VALUES (?, ?, ?)",
        (row_id, f"user{row_id}@example.com", f"Your code is: {row_id:06d}"),
    )


async def test_a_row_committed_after_a_higher_id_still_reaches_its_waiter(tmp_path: Path) -> None:
    db = _database(tmp_path / "mailbox.db")
    tail = MailboxTail(f"sqlite+aiosqlite:///{tmp_path / 'mailbox.db'}")
    await tail.start(follow=False)
    try:
        waiting = {row_id: tail.expect(f"user{row_id}@example.com") for row_id in (2, 3, 4)}
        _deliver(db, 2)
        _deliver(db, 4)  # 3 is handed out but not committed yet
        await tail.poll()
        assert tail.rows_read == 2  # the row there before the tail started is not read
        assert waiting[2].result() == "000002" and waiting[4].result() == "000004"
        assert not waiting[3].done()

        await tail.poll()  # 3 is still missing: read from it again, 4 included
        assert tail.rows_read == 3 and not waiting[3].done()

        _deliver(db, 3)
        await tail.poll()
        assert waiting[3].result() == "000003"
        assert tail.rows_read == 5

        await tail.poll()  # nothing missing, nothing new: nothing read again
        assert tail.rows_read == 5
    finally:
        await tail.stop()
        db.close()


async def test_a_gap_that_never_fills_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _database(tmp_path / "mailbox.db")
    tail = MailboxTail(f"sqlite+aiosqlite:///{tmp_path / 'mailbox.db'}")
    await tail.start(follow=False)
    clock = [1000.0]
    monkeypatch.setattr(mailbox.time, "monotonic", lambda: clock[0])
    try:
        _deliver(db, 3)  # 2 rolled back: its id is gone for good
        await tail.poll()
        await tail.poll()
        assert tail.rows_read == 2  # row 3 read again while 2 may still come

        clock[0] += mailbox.GAP_SECONDS + 0.1
        await tail.poll()
        await tail.poll()
        assert tail.rows_read == 2  # given up: only rows after 3 are asked for
        late = tail.expect("user5@example.com")
        _deliver(db, 5)
        await tail.poll()
        assert late.result() == "000005"
    finally:
        await tail.stop()
        db.close()
