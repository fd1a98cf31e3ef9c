"""Contact points: parsing, normalising and masking emails and phone numbers."""

from __future__ import annotations

import re

import idna
import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from secinfo.domain.contacts import (
    Channel,
    mask,
    mask_email,
    mask_phone,
    normalize_contact,
    normalize_email,
    normalize_phone,
)
from secinfo.domain.errors import InvalidEmail, InvalidPhone, InvalidSignInName

E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# -- emails -----------------------------------------------------------------------------

LOCAL_PARTS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-",
    min_size=1,
    max_size=30,
)
LABELS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZüéßÖçñ", min_size=1)
DOMAINS = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(LABELS.filter(lambda label: len(label) <= 20), min_size=1, max_size=3),
    st.sampled_from(["com", "org", "example", "DE", "Net", "co.uk"]),
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("a@BÜCHER.example", "a@xn--bcher-kva.example"),
        ("a@bücher.example", "a@xn--bcher-kva.example"),
        ("Ab.Cd@Example.COM", "Ab.Cd@example.com"),
        ("  someone@example.org \n", "someone@example.org"),
        ("x+tag@MAIL.Example.co.uk", "x+tag@mail.example.co.uk"),
    ],
)
def test_emails_get_an_ascii_lower_case_domain_and_keep_the_local_part(
    typed: str, expected: str
) -> None:
    assert normalize_email(typed) == expected


@given(local=LOCAL_PARTS, domain=DOMAINS)
def test_normalised_emails_are_ascii_lower_case_and_stable(local: str, domain: str) -> None:
    try:
        normalized = normalize_email(f"{local}@{domain}")
    except InvalidEmail:
        assume(False)
        raise
    out_local, _, out_domain = normalized.rpartition("@")
    assert out_local == local
    assert out_domain.isascii()
    assert out_domain == out_domain.lower()
    assert out_domain == idna.encode(domain, uts46=True).decode()
    assert normalize_email(normalized) == normalized
    assert normalize_email(f"{local}@{out_domain.upper()}") == normalized


@given(raw=st.one_of(st.emails(), st.text(max_size=80)))
def test_normalising_any_text_gives_a_stable_address_or_a_clear_refusal(raw: str) -> None:
    try:
        normalized = normalize_email(raw)
    except InvalidEmail as error:
        assert error.code == "invalid_email"
        assert len(error.message) > 20
        return
    assert "@" in normalized
    assert normalize_email(normalized) == normalized


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("no-at-sign.example.com", "not valid"),
        ("@example.com", "not valid"),
        ("someone@", "not valid"),
        ("some one@example.com", "not valid"),
        ("a@@example.com", "not valid"),
        ("a@b", "not valid"),
        ("a@localhost", "not valid"),
        ("x" * 250 + "@example.com", "254"),
    ],
)
def test_invalid_emails_are_refused_with_a_message(typed: str, says: str) -> None:
    with pytest.raises(InvalidEmail) as refused:
        normalize_email(typed)
    assert says in refused.value.message
    assert refused.value.to_dict()["code"] == "invalid_email"


# -- phones -----------------------------------------------------------------------------


def valid_numbers() -> list[phonenumbers.PhoneNumber]:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.is_valid_number(number):
                numbers.append(number)
    return numbers


NUMBERS = st.sampled_from(valid_numbers())
# One character at most between digits: 15 digits stay within the 40-character limit.
SEPARATORS = st.sampled_from(["", " ", "-", "."])


@given(number=NUMBERS)
def test_normalised_phones_are_e164_and_stable(number: phonenumbers.PhoneNumber) -> None:
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    normalized = normalize_phone(international)
    assert E164.fullmatch(normalized), normalized
    assert normalized.startswith("+") and normalized[1:].isdigit()
    assert normalize_phone(normalized) == normalized


@given(number=NUMBERS, data=st.data())
def test_formatted_variants_of_a_number_give_the_same_result(
    number: phonenumbers.PhoneNumber, data: st.DataObject
) -> None:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digits = e164[1:]
    separators = data.draw(st.lists(SEPARATORS, min_size=len(digits), max_size=len(digits)))
    spaced = "+" + "".join(
        digit + separator for digit, separator in zip(digits, separators, strict=True)
    )
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    region = phonenumbers.region_code_for_number(number)
    assert normalize_phone(spaced) == e164
    assert normalize_phone(f"  {e164}  ") == e164
    assert normalize_phone(national, default_region=region) == e164


@pytest.mark.parametrize(
    "typed",
    ["+1 (415) 555-0100", "+1-415-555-0100", "+1.415.555.0100", "+14155550100", " +1 415 5550100"],
)
def test_us_number_written_in_different_ways(typed: str) -> None:
    assert normalize_phone(typed) == "+14155550100"
    assert normalize_phone("(415) 555-0100", default_region="US") == "+14155550100"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "hello",
        "+",
        "++44",
        "+1 555",
        "+999 1234567",
        "+44 12",
        "4155550100",  # no country code and no default region
        "+1" + "0" * 45,
        "+1 - 4 - 1 - 5 - 5 - 5 - 5 - 0 - 1 - 0 - 0",  # over 40 characters
        "555-0100 call me",
    ],
)
def test_garbage_phones_are_refused_with_a_message(typed: str) -> None:
    with pytest.raises(InvalidPhone) as refused:
        normalize_phone(typed)
    assert len(refused.value.message) > 20
    assert refused.value.to_dict()["code"] == "invalid_phone"


@given(raw=st.text(max_size=50))
def test_any_text_gives_an_e164_number_or_invalid_phone(raw: str) -> None:
    try:
        normalized = normalize_phone(raw)
    except InvalidPhone:
        return
    assert E164.fullmatch(normalized), normalized
    assert normalize_phone(normalized) == normalized


@given(raw=st.text(alphabet=st.characters(blacklist_categories=["Nd"]), max_size=40))
def test_text_without_digits_is_never_a_phone(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(raw)


def test_normalize_contact_picks_the_channel_from_the_text() -> None:
    assert normalize_contact("Someone@Example.COM") == (Channel.EMAIL, "Someone@example.com")
    assert normalize_contact("+1 (415) 555-0100") == (Channel.SMS, "+14155550100")
    with pytest.raises(InvalidSignInName) as neither:
        normalize_contact("not-an-email")
    assert neither.value.code == "invalid_sign_in_name"
    assert "not an email address or a phone number in international format" in (
        neither.value.message
    )


PHONE_PUNCTUATION = set("0123456789 ().-+")


@given(
    number=NUMBERS,
    junk=st.characters(exclude_characters=PHONE_PUNCTUATION, exclude_categories=["Cs"]),
    where=st.integers(min_value=0, max_value=20),
)
def test_a_number_with_any_other_character_is_refused(
    number: phonenumbers.PhoneNumber, junk: str, where: int
) -> None:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    position = min(where, len(e164))
    typed = e164[:position] + junk + e164[position:]
    assume(typed.strip() != e164)  # whitespace at either end is trimmed, as everywhere
    with pytest.raises(InvalidPhone) as refused:
        normalize_phone(typed)
    assert "digits, spaces" in refused.value.message
    with pytest.raises((InvalidPhone, InvalidSignInName, InvalidEmail)):
        normalize_contact(typed)  # as a sign-in name: never a text to the digits


def test_a_plus_only_leads() -> None:
    assert normalize_phone("+14155550189") == "+14155550189"
    for typed in ("+14155550189x", "14155550189+", "+1415+5550189", "+1415555O189"):
        with pytest.raises(InvalidPhone):
            normalize_phone(typed)


# -- masking ----------------------------------------------------------------------------


def test_masks_from_the_help_article() -> None:
    assert mask_phone("+14155550189") == "*********89"
    assert mask_email("abcdef@example.com") == "ab*****@example.com"
    assert mask(Channel.SMS, "+14155550189") == "*********89"
    assert mask("email", "abcdef@example.com") == "ab*****@example.com"


@given(number=NUMBERS)
def test_a_masked_phone_shows_only_its_last_two_digits(number: phonenumbers.PhoneNumber) -> None:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    masked = mask_phone(e164)
    digits = e164[1:]
    assert masked[-2:] == digits[-2:]
    assert set(masked[:-2]) == {"*"}
    assert len(masked) == len(digits)
    assert "+" not in masked


@given(
    local=LOCAL_PARTS.filter(lambda local: len(local) >= 3),
    domain=st.sampled_from(["example.com", "xn--bcher-kva.example", "mail.example.co.uk"]),
)
def test_a_masked_email_shows_two_characters_and_the_domain(local: str, domain: str) -> None:
    masked = mask_email(f"{local}@{domain}")
    assert masked == f"{local[:2]}*****@{domain}"


def test_a_short_local_part_is_never_shown_whole() -> None:
    assert mask_email("a@example.com") == "*****@example.com"
    assert mask_email("ab@example.com") == "a*****@example.com"


@given(
    start=st.text(alphabet="abcdefghij", min_size=2, max_size=2),
    lengths=st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=2),
)
def test_a_masked_email_does_not_tell_how_long_the_local_part_is(
    start: str, lengths: list[int]
) -> None:
    short, long = (f"{start}{'x' * length}@example.com" for length in lengths)
    assert mask_email(short) == mask_email(long)
