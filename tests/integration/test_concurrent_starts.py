"""Issue 11 item 7: concurrent Verify starts for one ``to`` make one pending verification;
the others resend on it or answer its cooldown, naming the same id."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.repositories import SqlVerifications
from secinfo.adapters.sql.tables import verifications
from secinfo.domain.verification import Verification
from tests.conftest import auth, running_app

pytestmark = pytest.mark.anyio


async def test_twenty_concurrent_starts_for_one_to_make_one_pending_verification(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A busy database: every start looks for a pending verification, then waits a
    # moment before going on, so all 20 look before any of them has inserted.
    find = SqlVerifications.pending_for_api_key

    async def slow_find(self: SqlVerifications, *args: Any) -> Verification | None:
        found = await find(self, *args)
        await asyncio.sleep(0.05)
        return found

    monkeypatch.setattr(SqlVerifications, "pending_for_api_key", slow_find)
    async with running_app(database_url, tmp_path) as running:
        key = await running.api_key()
        # A second API process on the same database: the race is between processes too.
        async with running_app(database_url, tmp_path / "two", fresh=False) as second:
            clients = [running.client, second.client]
            responses = await asyncio.gather(
                *(
                    clients[n % 2].post(
                        "/v1/verifications",
                        json={"to": "race@example.com", "channel": "email"},
                        headers=auth(key),
                    )
                    for n in range(20)
                )
            )
        async with running.app.engine.connect() as connection:
            pending = (
                await connection.execute(
                    sa.select(verifications.c.id).where(
                        verifications.c.destination_lookup
                        == running.app.box.blind_index("race@example.com"),
                        verifications.c.status == "pending",
                    )
                )
            ).all()
    assert len(pending) == 1, pending
    (only,) = pending
    for response in responses:
        if response.status_code == 201 or response.status_code == 200:
            assert response.json()["id"] == only.id, response.text
        else:
            assert response.status_code == 429, response.text
            error = response.json()["error"]
            assert error["code"] == "resend_cooldown", response.text
            assert error["verification_id"] == only.id, response.text
