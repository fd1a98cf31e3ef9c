"""Contact keys: one mailbox, one key, whatever the case or compatibility form."""

from __future__ import annotations

import pytest

from secinfo.domain.contacts import contact_key, email_key, normalize_email, same_contact
from secinfo.domain.errors import InvalidEmail


def test_case_spellings_share_a_key_and_keep_their_spelling() -> None:
    spellings = ["Victim@example.com", "VICTIM@EXAMPLE.COM", "vIctim@Example.Com"]
    normalized = [normalize_email(spelling) for spelling in spellings]
    assert normalized == ["Victim@example.com", "VICTIM@example.com", "vIctim@example.com"]
    assert {email_key(value) for value in normalized} == {"victim@example.com"}
    assert same_contact(normalized[0], normalized[2])


def test_folding_is_full_case_folding_after_nfkc() -> None:
    assert email_key("STRASSE@example.com") == email_key("straße@example.com")
    assert email_key("ÉLODIE@example.com") == "élodie@example.com"
    assert email_key("\u01c4emal@example.com") == "d\u017eemal@example.com"  # NFKC after folding


def test_a_phone_key_is_its_e164_form() -> None:
    assert contact_key("+14155550189") == "+14155550189"


@pytest.mark.parametrize(
    "address",
    [
        "vi\u0441tim@example.com",  # Cyrillic es
        "\u0440aypal@example.com",  # Cyrillic er
        "\u03bdictim@example.com",  # Greek nu
        "\uff56\uff49\uff43\uff54\uff49\uff4d@example.com",  # full-width
        "\u2460two@example.com",  # circled digit one
        "o\ufb03ce@example.com",  # "ffi" ligature
    ],
)
def test_look_alikes_are_refused(address: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(address)


@pytest.mark.parametrize(
    "address",
    ["иван@example.com", "χαρά@example.com", "日本語@example.com", "josé.garcía@example.com"],
)
def test_one_alphabet_is_fine(address: str) -> None:
    assert normalize_email(address)
