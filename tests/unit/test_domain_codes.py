"""One-time codes: generated from ``secrets``, kept only as keyed hashes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secinfo.domain.codes import (
    ALPHANUMERIC,
    DIGITS,
    CodeHasher,
    generate_code,
    new_token,
    normalize_typed_code,
    token_hash,
)

SECRET = b"unit-test-code-secret-0123456789"
AMBIGUOUS = set("0O1IL")


@pytest.mark.parametrize("length", range(4, 11))
@pytest.mark.parametrize("alphanumeric", [False, True])
def test_codes_have_the_length_and_alphabet_asked_for(length: int, alphanumeric: bool) -> None:
    alphabet = ALPHANUMERIC if alphanumeric else DIGITS
    for _ in range(50):
        code = generate_code(length, alphanumeric)
        assert len(code) == length
        assert set(code) <= set(alphabet)


def test_the_default_code_is_six_digits() -> None:
    code = generate_code()
    assert len(code) == 6
    assert code.isdigit()


@pytest.mark.parametrize("length", [-1, 0, 1, 3, 11, 12, 100])
@pytest.mark.parametrize("alphanumeric", [False, True])
def test_lengths_outside_4_to_10_are_refused(length: int, alphanumeric: bool) -> None:
    with pytest.raises(ValueError, match="between 4 and 10"):
        generate_code(length, alphanumeric)


def test_the_alphanumeric_alphabet_has_no_characters_that_are_easily_misread() -> None:
    assert not AMBIGUOUS & set(ALPHANUMERIC)
    assert set(ALPHANUMERIC) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    assert len(set(ALPHANUMERIC)) == len(ALPHANUMERIC) >= 30


def test_codes_use_the_whole_alphabet() -> None:
    """Drawn from every allowed character (a stuck generator would be guessable)."""
    seen_digits = set("".join(generate_code(10) for _ in range(200)))
    seen_letters = set("".join(generate_code(10, alphanumeric=True) for _ in range(300)))
    assert seen_digits == set(DIGITS)
    assert seen_letters == set(ALPHANUMERIC)


def test_codes_are_not_repeated() -> None:
    codes = {generate_code(10) for _ in range(1000)}
    assert len(codes) > 990


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        (" 123-456 ", "123456"),
        ("12\t34 56", "123456"),
        ("ab-cd ef", "ABCDEF"),
        ("a3k7-p9q2", "A3K7P9Q2"),
    ],
)
def test_typed_codes_tolerate_spaces_dashes_and_lower_case(typed: str, expected: str) -> None:
    assert normalize_typed_code(typed) == expected


@given(code=st.text(alphabet=ALPHANUMERIC, min_size=4, max_size=10), data=st.data())
def test_a_code_typed_with_separators_or_lower_case_matches(code: str, data: st.DataObject) -> None:
    separators = data.draw(st.lists(st.sampled_from([" ", "-", "\t", ""]), min_size=len(code)))
    typed = "".join(
        character + separator for character, separator in zip(code, separators, strict=False)
    )
    if data.draw(st.booleans(), label="lower case"):
        typed = typed.lower()
    hasher = CodeHasher(SECRET)
    stored = hasher.hash("ver_1", code)
    assert normalize_typed_code(typed) == code
    assert hasher.matches("ver_1", typed, stored)


def test_the_hash_binds_the_verification_id() -> None:
    hasher = CodeHasher(SECRET)
    first = hasher.hash("ver_one", "123456")
    second = hasher.hash("ver_two", "123456")
    assert first != second
    assert hasher.matches("ver_one", "123456", first)
    assert not hasher.matches("ver_two", "123456", first)
    assert not hasher.matches("ver_one", "123456", second)


@given(
    ids=st.lists(st.text(min_size=1, max_size=20), min_size=2, max_size=2, unique=True),
    code=st.text(alphabet=DIGITS, min_size=4, max_size=10),
)
def test_a_hash_never_verifies_on_another_verification(ids: list[str], code: str) -> None:
    hasher = CodeHasher(SECRET)
    stored = hasher.hash(ids[0], code)
    assert hasher.matches(ids[0], code, stored)
    assert not hasher.matches(ids[1], code, stored)


def test_the_hash_is_keyed_and_never_the_code() -> None:
    code = "123456"
    one = CodeHasher(SECRET).hash("ver_1", code)
    other = CodeHasher(b"another-secret-of-32-bytes-long!").hash("ver_1", code)
    assert one != other
    assert code not in one
    assert len(one) == 64
    assert not CodeHasher(SECRET).matches("ver_1", code, other)


def test_a_wrong_code_does_not_match() -> None:
    hasher = CodeHasher(SECRET)
    stored = hasher.hash("ver_1", "123456")
    for wrong in ["123457", "654321", "12345", "1234567", "", "123456 7"]:
        assert not hasher.matches("ver_1", wrong, stored)


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 15])
def test_a_short_secret_is_refused(secret: bytes) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        CodeHasher(secret)


def test_tokens_are_prefixed_random_and_hashed() -> None:
    tokens = {new_token("ses") for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert token.startswith("ses_")
    assert len(token) > 40
    assert token_hash(token) == token_hash(token)
    assert token not in token_hash(token)
    assert token_hash(token) != token_hash(new_token("ses"))
