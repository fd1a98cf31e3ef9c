"""Sealing message bodies that carry a code (AES-GCM), with key rotation."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from secinfo.adapters.secretbox import PREFIX, SecretBox, key_id

OLD_KEY = b"o" * 32
NEW_KEY = b"n" * 32
BODY = "secinfo: 493817 is your code for *********89. Don't share it.\n\n@localhost #493817"


@given(plaintext=st.text(max_size=500), associated=st.text(max_size=40))
def test_sealed_text_opens_to_the_same_text(plaintext: str, associated: str) -> None:
    box = SecretBox([NEW_KEY])
    sealed = box.seal(plaintext, associated)
    assert SecretBox.is_sealed(sealed)
    assert box.open(sealed, associated) == plaintext


def test_sealed_text_does_not_contain_the_plaintext_or_the_code() -> None:
    box = SecretBox([NEW_KEY])
    sealed = box.seal(BODY, "msg_1")
    assert "493817" not in sealed
    assert "Don't share" not in sealed
    assert sealed.startswith(f"{PREFIX}:{key_id(NEW_KEY)}:")


def test_sealing_twice_gives_different_text() -> None:
    box = SecretBox([NEW_KEY])
    assert box.seal(BODY, "msg_1") != box.seal(BODY, "msg_1")


def test_wrong_associated_data_does_not_open() -> None:
    box = SecretBox([NEW_KEY])
    sealed = box.seal(BODY, "msg_1")
    with pytest.raises(InvalidTag):
        box.open(sealed, "msg_2")
    with pytest.raises(InvalidTag):
        box.open(sealed)


def test_tampered_text_does_not_open() -> None:
    box = SecretBox([NEW_KEY])
    sealed = box.seal(BODY, "msg_1")
    head, _, payload = sealed.rpartition(":")
    middle = len(payload) // 2
    swapped = "A" if payload[middle] != "A" else "B"
    flipped = f"{head}:{payload[:middle]}{swapped}{payload[middle + 1 :]}"
    with pytest.raises(InvalidTag):
        box.open(flipped, "msg_1")


def test_a_value_sealed_with_the_old_key_opens_after_rotation() -> None:
    sealed_before = SecretBox([OLD_KEY]).seal(BODY, "msg_1")
    rotated = SecretBox([NEW_KEY, OLD_KEY])
    assert rotated.open(sealed_before, "msg_1") == BODY
    sealed_after = rotated.seal(BODY, "msg_2")
    assert sealed_after.split(":")[2] == key_id(NEW_KEY) != key_id(OLD_KEY)
    assert SecretBox([NEW_KEY]).open(sealed_after, "msg_2") == BODY


def test_a_box_without_the_key_says_which_key_is_missing() -> None:
    sealed_before = SecretBox([OLD_KEY]).seal(BODY, "msg_1")
    with pytest.raises(ValueError, match=f"no key with id {key_id(OLD_KEY)}"):
        SecretBox([NEW_KEY]).open(sealed_before, "msg_1")


def test_plain_values_pass_through_open_unchanged() -> None:
    box = SecretBox([NEW_KEY])
    assert not SecretBox.is_sealed("hello")
    assert box.open("hello") == "hello"


@pytest.mark.parametrize("keys", [[], [b"short"], [NEW_KEY, b"x" * 31], [b"y" * 33]])
def test_missing_or_wrongly_sized_keys_are_refused(keys: list[bytes]) -> None:
    with pytest.raises(ValueError, match="key"):
        SecretBox(keys)
