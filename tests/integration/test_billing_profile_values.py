"""The billing profile holds JSON that reads back as written (issue 11 item 3): numbers are
finite, text is valid Unicode without control characters; a write that answers an error
has written nothing, and reads keep working. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.tables import activity_events, billing_profiles
from secinfo.domain.errors import InvalidInput
from secinfo.domain.model import RequestContext
from secinfo.services import billing
from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio

GOOD = {
    "plan": "pro",
    "seats": 12,
    "price": 9.5,
    "tiny": 1e-300,
    "address": "Hauptstraße 1\n8001 Zürich",
    "tags": ["a", "b", {"nested": [1, 2.25, None, True]}],
    "emoji": "😀",
}
BAD_BODIES = [
    '{"profile": {"price": NaN}}',
    '{"profile": {"price": Infinity}}',
    '{"profile": {"price": -Infinity}}',
    '{"profile": {"price": 1e400}}',
    '{"profile": {"list": [1, -1e999]}}',
    '{"profile": {"name": "\\ud800"}}',
    '{"profile": {"name": "a\\udc00b"}}',
    '{"profile": {"\\ud83d": "lone high surrogate as a key"}}',
    '{"profile": {"name": "nul \\u0000 inside"}}',
    '{"profile": {"deep": {"deeper": ["\\u001b[31m"]}}}',
]


async def stored(harness: Harness) -> tuple[list[tuple[object, ...]], int]:
    async with harness.app.engine.connect() as connection:
        rows = [tuple(row) for row in await connection.execute(sa.select(billing_profiles))]
        events = await connection.scalar(sa.select(sa.func.count()).select_from(activity_events))
    return rows, int(events or 0)


async def account_with_profile(harness: Harness) -> tuple[str, str]:
    token = await harness.sign_up("billing.values@example.com")
    account_id = (await harness.client.get("/v1/me", headers=auth(token))).json()["account_id"]
    key = await harness.api_key()
    put = await harness.client.put(
        f"/v1/accounts/{account_id}/billing", json={"profile": GOOD}, headers=auth(key)
    )
    assert put.status_code == 200, put.text
    return account_id, key


async def test_good_values_read_back_exactly(harness: Harness) -> None:
    account_id, key = await account_with_profile(harness)
    read = await harness.client.get(f"/v1/accounts/{account_id}/billing", headers=auth(key))
    assert read.status_code == 200
    assert read.json()["profile"] == GOOD


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_values_are_422_write_nothing_and_reads_still_work(
    harness: Harness, body: str
) -> None:
    account_id, key = await account_with_profile(harness)
    before = await stored(harness)
    answer = await harness.client.put(
        f"/v1/accounts/{account_id}/billing",
        content=body,
        headers=auth(key) | {"content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
    assert await stored(harness) == before
    read = await harness.client.get(f"/v1/accounts/{account_id}/billing", headers=auth(key))
    assert read.status_code == 200, read.text
    assert read.json()["profile"] == GOOD


@pytest.mark.parametrize(
    "profile",
    [
        {"price": float("nan")},
        {"price": float("inf")},
        {"name": "\ud800"},
        {"\udfff": 1},
        {"x": [{"y": "\x00"}]},
        {"x": {1, 2}},
    ],
    ids=["nan", "inf", "surrogate", "surrogate-key", "nul", "set"],
)
async def test_the_service_refuses_them_too_for_library_callers(
    harness: Harness, profile: dict[str, object]
) -> None:
    account_id, _ = await account_with_profile(harness)
    before = await stored(harness)
    with pytest.raises(InvalidInput):
        await billing.put(harness.app.deps, account_id, profile, RequestContext())
    assert await stored(harness) == before
    assert (await billing.get(harness.app.deps, account_id))[0] == GOOD
