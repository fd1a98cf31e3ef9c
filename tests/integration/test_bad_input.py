"""Bad input gets a clear 4xx that says what is wrong; nothing is half-written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.tables import accounts, outbox, security_info, verifications
from tests.conftest import Harness, auth

pytestmark = pytest.mark.anyio


async def row_counts(harness: Harness) -> dict[str, int]:
    async with harness.app.engine.connect() as connection:
        return {
            table.name: int(
                await connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            )
            for table in (accounts, security_info, verifications, outbox)
        }


@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        (
            {"sign_in_name": "+1 555", "password": "a long passphrase 1"},
            422,
            "invalid_phone",
            "phone",
        ),
        (
            {"sign_in_name": "not-an-email", "password": "a long passphrase 1"},
            422,
            "invalid_sign_in_name",
            "not an email address or a phone number in international format",
        ),
        (
            {"sign_in_name": "+14155550189x", "password": "a long passphrase 1"},
            422,
            "invalid_sign_in_name",
            "phone number",
        ),
        (
            {"sign_in_name": "bob@@example", "password": "a long passphrase 1"},
            422,
            "invalid_email",
            "email",
        ),
        ({"sign_in_name": "bob@example.com", "password": "short"}, 422, "weak_password", "8"),
        (
            {"sign_in_name": "bob@example.com", "password": "password123"},
            422,
            "weak_password",
            "common",
        ),
        ({"sign_in_name": "bob@example.com"}, 422, "invalid_input", "password"),
        (
            {"sign_in_name": 42, "password": "a long passphrase 1"},
            422,
            "invalid_input",
            "sign_in_name",
        ),
        (
            {"sign_in_name": "bob@example.com", "password": "a long passphrase 1", "x": 1},
            422,
            "invalid_input",
            "x",
        ),
    ],
)
async def test_sign_up_refuses_bad_input_clearly_and_writes_nothing(
    harness: Harness, body: dict, status: int, code: str, mentions: str
) -> None:
    before = await row_counts(harness)
    response = await harness.client.post("/v1/accounts", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert mentions in error["message"]
    assert await row_counts(harness) == before


async def test_malformed_json_and_oversized_bodies(harness: Harness) -> None:
    malformed = await harness.client.post(
        "/v1/accounts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"

    huge = await harness.client.post(
        "/v1/accounts",
        json={"sign_in_name": "bob@example.com", "password": "x" * (70 * 1024)},
    )
    assert huge.status_code == 413
    assert huge.json()["error"] == {
        "code": "body_too_large",
        "message": "The request body is larger than 64 KiB.",
    }

    async def chunks():  # no Content-Length: the limit still holds while streaming
        for _ in range(80):
            yield b"x" * 1024

    streamed = await harness.client.post(
        "/v1/accounts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


async def test_unknown_ids_and_routes_are_404_with_an_error_body(harness: Harness) -> None:
    token = await harness.sign_up("carol@example.com")
    key = await harness.api_key()
    for response in (
        await harness.client.get("/v1/verifications/ver_nope", headers=auth(key)),
        await harness.client.patch(
            "/v1/me/security-info/inf_nope", json={"label": "x"}, headers=auth(token)
        ),
        await harness.client.post(
            "/v1/accounts/confirm", json={"verification_id": "ver_nope", "code": "123456"}
        ),
        await harness.client.get("/v1/no-such-thing"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
        assert response.json()["error"]["message"]


async def test_missing_or_bad_session_is_401(harness: Harness) -> None:
    for headers in ({}, {"Authorization": "Bearer sis_not-a-token"}, {"Authorization": "Basic x"}):
        response = await harness.client.get("/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"


async def test_wrong_sign_up_code_says_how_many_tries_are_left(harness: Harness) -> None:
    started = await harness.client.post(
        "/v1/accounts", json={"sign_in_name": "dan@example.com", "password": "a long passphrase 1"}
    )
    code = await harness.latest_code("dan@example.com")
    wrong = "000000" if code != "000000" else "111111"
    response = await harness.client.post(
        "/v1/accounts/confirm",
        json={"verification_id": started.json()["verification_id"], "code": wrong},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_code"
    assert response.json()["error"]["attempts_left"] == 4


async def test_sign_up_with_a_taken_name_looks_the_same_and_warns_the_holder(
    harness: Harness,
) -> None:
    await harness.sign_up("erin@example.com")
    fresh = await harness.client.post(
        "/v1/accounts",
        json={"sign_in_name": "frank@example.com", "password": "a long passphrase 1"},
    )
    taken = await harness.client.post(
        "/v1/accounts", json={"sign_in_name": "erin@example.com", "password": "a long passphrase 1"}
    )
    assert taken.status_code == fresh.status_code == 202
    assert set(taken.json()) == set(fresh.json())
    notice = (await harness.mailbox("erin@example.com"))[0]
    assert notice["subject"].startswith("Someone tried to create")
    assert "code is" not in notice["body"]


async def test_adding_a_malformed_phone_is_refused_and_nothing_is_added(harness: Harness) -> None:
    token = await harness.sign_up("gina@example.com")
    await harness.step_up(token, "gina@example.com")
    before = await row_counts(harness)
    response = await harness.client.post(
        "/v1/me/security-info", json={"kind": "phone", "value": "12345"}, headers=auth(token)
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_phone"
    assert "+" in response.json()["error"]["message"]
    assert await row_counts(harness) == before
    junk = await harness.client.post(
        "/v1/me/security-info",
        json={"kind": "phone", "value": "+14155550189x"},
        headers=auth(token),
    )
    assert junk.status_code == 422
    assert junk.json()["error"]["code"] == "invalid_phone"
    assert "digits, spaces" in junk.json()["error"]["message"]
    assert await row_counts(harness) == before  # no text went to +14155550189
    wrong_kind = await harness.client.post(
        "/v1/me/security-info", json={"kind": "fax", "value": "12345"}, headers=auth(token)
    )
    assert wrong_kind.status_code == 422
    assert wrong_kind.json()["error"]["fields"][0]["field"] == "kind"
