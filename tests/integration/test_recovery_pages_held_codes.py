"""Forgot password on the pages with a code the person holds: a code from the
authenticator app, or the recovery code (which comes back replaced), is one proof; a
wrong one is refused in words, the same way for an unknown name."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Harness, auth
from tests.integration.test_authenticator_and_recovery_code import (
    EMAIL,
    PASSWORD,
    RECOVERY_CODE,
    add_authenticator,
    code_at,
    signed_up_and_stepped_up,
)

pytestmark = pytest.mark.anyio


def _one(pattern: str, html: str) -> str:
    found = re.search(pattern, html)
    assert found, html
    return found.group(1)


async def _contacts_page(harness: Harness, name: str) -> tuple[str, str]:
    """Forgot password for ``name``: the held-code form's action and the CSRF token."""
    page = (await harness.client.get("/forgot-password")).text
    token = _one(r'name="csrf_token" value="([^"]+)"', page)
    contacts = await harness.client.post(
        "/forgot-password", data={"csrf_token": token, "sign_in_name": name}
    )
    assert contacts.status_code == 200, contacts.text
    assert "Or use your authenticator app or recovery code" in contacts.text
    return _one(r'action="(/forgot-password/[^"]+/held)"', contacts.text), token


async def test_an_authenticator_code_is_one_proof_and_then_the_new_password(
    harness: Harness,
) -> None:
    token = await signed_up_and_stepped_up(harness)
    enrolled = await add_authenticator(harness, token)
    action, csrf = await _contacts_page(harness, EMAIL)

    wrong = await harness.client.post(
        action, data={"csrf_token": csrf, "kind": "authenticator", "code": "000000"}
    )
    assert wrong.status_code == 400
    assert "Or use your authenticator app or recovery code" in wrong.text  # still on the page
    assert 'role="alert"' in wrong.text and "code" in wrong.text.lower()

    harness.clock.advance(seconds=30)
    right = await harness.client.post(
        action,
        data={
            "csrf_token": csrf,
            "kind": "authenticator",
            "code": code_at(enrolled["secret"], harness),
        },
    )
    assert right.status_code == 200, right.text
    assert 'action="/forgot-password/' in right.text and "/reset" in right.text
    reset = _one(r'action="(/forgot-password/[^"]+/reset)"', right.text)
    done = await harness.client.post(
        reset, data={"csrf_token": csrf, "new_password": "a brand new passphrase 2"}
    )
    assert done.status_code in (303, 302), done.text
    signed_in = await harness.client.post(
        "/v1/sessions",
        json={"sign_in_name": EMAIL, "password": "a brand new passphrase 2"},
    )
    assert signed_in.status_code in (201, 202), signed_in.text


async def test_a_recovery_code_is_one_proof_and_is_shown_replaced(harness: Harness) -> None:
    token = await signed_up_and_stepped_up(harness)
    created = await harness.client.post(
        "/v1/me/security-info", json={"kind": "recovery_code"}, headers=auth(token)
    )
    first = created.json()["recovery_code"]
    action, csrf = await _contacts_page(harness, EMAIL)

    answer = await harness.client.post(
        action, data={"csrf_token": csrf, "kind": "recovery_code", "code": first}
    )

    assert answer.status_code == 200, answer.text
    assert "Your new recovery code" in answer.text
    replacement = _one(r'<code id="recovery-code"[^>]*>([^<]+)</code>', answer.text)
    assert RECOVERY_CODE.match(replacement) and replacement != first
    next_page = _one(r'<a class="button" href="([^"]+)"', answer.text)
    assert (await harness.client.get(next_page)).text.count("/reset") >= 1
    assert PASSWORD  # the old password is unchanged until the reset


async def test_an_unknown_name_gets_the_same_form_and_the_same_refusal(
    harness: Harness,
) -> None:
    await signed_up_and_stepped_up(harness)
    real_action, csrf = await _contacts_page(harness, EMAIL)
    unknown_action, _ = await _contacts_page(harness, "nobody@example.com")
    answers = [
        await harness.client.post(
            action,
            data={
                "csrf_token": csrf,
                "kind": "recovery_code",
                "code": "ABCDE-FGHJK-MNPQR-STUVW-XYZ23",
            },
        )
        for action in (real_action, unknown_action)
    ]
    assert [answer.status_code for answer in answers] == [400, 400]
    errors = [_one(r'role="alert"[^>]*>(.*?)</div>', answer.text) for answer in answers]
    assert errors[0] == errors[1] and errors[0]


async def test_a_kind_that_is_not_offered_is_refused_in_words(harness: Harness) -> None:
    action, csrf = await _contacts_page(harness, "nobody@example.com")
    answer = await harness.client.post(
        action, data={"csrf_token": csrf, "kind": "email", "code": "123456"}
    )
    assert answer.status_code == 422
    assert "Choose a code from your authenticator app or your recovery code." in answer.text
