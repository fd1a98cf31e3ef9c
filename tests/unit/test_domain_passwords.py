"""Password rules: at least 8 characters, not a common one, not the sign-in name."""

from __future__ import annotations

import pytest

from secinfo.domain.errors import WeakPassword
from secinfo.domain.passwords import MIN_LENGTH, check_password_strength, common_passwords


@pytest.mark.parametrize("password", ["", "a", "Xy7!", "abc1234", "Zq9#Lk2"])
def test_a_password_shorter_than_eight_characters_is_refused(password: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password_strength(password)
    assert "at least 8 characters" in refused.value.message
    assert refused.value.code == "weak_password"


def test_eight_characters_are_enough_when_nothing_else_is_wrong() -> None:
    assert MIN_LENGTH == 8
    check_password_strength("Zq9#Lk2m")


@pytest.mark.parametrize(
    "password", ["password123", "qwertyuiop", "PASSWORD123", "QwertyUiop", "iloveyou"]
)
def test_a_common_password_is_refused_whatever_its_case(password: str) -> None:
    assert password.lower() in common_passwords()
    with pytest.raises(WeakPassword) as refused:
        check_password_strength(password)
    assert "common" in refused.value.message
    assert "choose another" in refused.value.message


def test_the_common_password_list_is_loaded() -> None:
    common = common_passwords()
    assert len(common) > 10_000
    assert "correct horse battery staple river" not in common


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("alice.smith2024!", ("alice.smith@example.com", "alice.smith")),
        ("my-ALICE.SMITH-pass", ("alice.smith",)),
        ("call 4155550189 now", ("+14155550189", "4155550189")),
    ],
)
def test_a_password_containing_the_sign_in_name_is_refused(
    password: str, context: tuple[str, ...]
) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password_strength(password, context=context)
    assert "sign-in name" in refused.value.message
    assert refused.value.message.startswith("Choose a password")


def test_short_context_words_do_not_refuse_everything() -> None:
    check_password_strength("a bright morning tide", context=("ab", "", "tid"))


def test_a_long_passphrase_is_accepted() -> None:
    check_password_strength(
        "correct horse battery staple river",
        context=("alice@example.com", "alice", "+14155550189"),
    )


def test_a_password_over_the_maximum_is_refused_with_the_limit() -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password_strength("word " * 300)
    assert "at most 1024 characters" in refused.value.message


@pytest.mark.parametrize("password", ["short", "password123"])
def test_every_refusal_says_what_to_do(password: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password_strength(password)
    body = refused.value.to_dict()
    assert body["code"] == "weak_password"
    assert body["message"].startswith("Choose") or "choose another" in body["message"]
    assert password not in body["message"]
