"""Contact points: parse, normalise and mask emails and phone numbers.

Emails keep their local part as typed (for display and sending) and get an IDNA-encoded,
lower-case domain; phones are stored in E.164. One mailbox is one mailbox: contacts are
compared, looked up and rate-limited on their *key* (``contact_key``), the local part
NFKC-normalised and case-folded, so ``Victim@x``, ``VICTIM@x`` and ``vIctim@x`` are one
sign-in name with one set of counters. Local parts that only look like another one are
refused: compatibility forms (full-width letters, ligatures) and letters of more than one
of the look-alike scripts (a Cyrillic "a", U+0430, among Latin letters). Masking follows the help
article: a phone shows only its last two digits, an email the first two characters of
its local part.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from secinfo.domain.errors import InvalidEmail, InvalidPhone, InvalidSignInName

# What a typed phone number may hold: digits, spaces, ( ) - . and one leading +.
# libphonenumber alone would read "+14155550189x" as +14155550189.
PHONE_CHARACTERS = re.compile(r"\+?[0-9 ().\-]+")


class Channel(StrEnum):
    """How an outbox message travels. Email and SMS reach a person's contact; a webhook
    goes to an operator's endpoint (its destination is the endpoint's id)."""

    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


# The channels that reach a person (codes and notices): every channel but webhooks.
CONTACT_CHANNELS = (Channel.EMAIL, Channel.SMS)


def normalize_email(raw: str) -> str:
    """Return ``local@domain`` with the domain in IDNA ASCII form, lower case.

    No DNS lookups: deliverability is proved by the code, not by the resolver.
    """
    text = raw.strip()
    if not text:
        raise InvalidEmail("The email address is empty; type an address like name@example.com.")
    if len(text) > 254:
        raise InvalidEmail("The email address is longer than 254 characters.")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(f"That email address is not valid: {error}") from None
    local, domain = result.normalized.rsplit("@", 1)
    _refuse_look_alikes(local)
    ascii_domain = result.ascii_domain or domain
    return f"{local}@{ascii_domain.lower()}"


# Scripts whose letters pass for one another (Latin a, Cyrillic U+0430, Greek U+03B1...).
LOOK_ALIKE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})


def _script(character: str) -> str:
    return unicodedata.name(character, "UNKNOWN").split(" ")[0]


def _refuse_look_alikes(local: str) -> None:
    if unicodedata.normalize("NFKC", local) != local:
        raise InvalidEmail(
            "That email address holds full-width or other compatibility characters; type "
            "it with ordinary letters and digits."
        )
    scripts = {_script(character) for character in local if character.isalpha()}
    if len(scripts & LOOK_ALIKE_SCRIPTS) > 1:
        raise InvalidEmail(
            "That email address mixes letters of different alphabets (such as Latin and "
            "Cyrillic) that look alike; type it in one alphabet."
        )


def email_key(email: str) -> str:
    """The form an email is compared and keyed on: the local part NFKC-normalised and
    case-folded, the domain lower case (``Alice@Example.com`` -> ``alice@example.com``)."""
    local, _, domain = email.rpartition("@")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", local).casefold())
    return f"{folded}@{domain.lower()}"


def contact_key(value: str) -> str:
    """The key of a normalised contact: an email's folded form, a phone's E.164 itself."""
    return email_key(value) if "@" in value else value


def same_contact(first: str, second: str) -> bool:
    return contact_key(first) == contact_key(second)


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """Return the number in E.164 (``+14155550100``).

    Without a leading ``+`` a ``default_region`` (ISO 3166 code) is needed.
    """
    text = raw.strip()
    if not text:
        raise InvalidPhone("The phone number is empty; type it with its country code, like +44 ...")
    if len(text) > 40:
        raise InvalidPhone("The phone number is too long.")
    if not PHONE_CHARACTERS.fullmatch(text):
        raise InvalidPhone(
            "A phone number may only hold digits, spaces, ( ) - . and a leading +; "
            "type it like +1 415 555 0100."
        )
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(
            "That phone number could not be read; type it in international form, "
            "with a leading + and the country code (for example +14155550100)."
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(
            "That is not a valid phone number for its country; check the digits and the "
            "country code."
        )
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def channel_of(raw: str) -> Channel:
    """An ``@`` makes an email; digits (and phone punctuation) a phone; else neither."""
    if "@" in raw:
        return Channel.EMAIL
    if PHONE_CHARACTERS.fullmatch(raw.strip()):
        return Channel.SMS
    raise InvalidSignInName(
        "That is not an email address or a phone number in international format; type "
        "an address like name@example.com or a number like +14155550100."
    )


def normalize_contact(raw: str, channel: Channel | None = None) -> tuple[Channel, str]:
    """Work out the channel (unless given) and normalise the value for it."""
    if channel is None:
        channel = channel_of(raw)
    if channel is Channel.EMAIL:
        return channel, normalize_email(raw)
    return channel, normalize_phone(raw)


def mask_email(email: str) -> str:
    """``abcdef@example.com`` -> ``ab*****@example.com`` (the local part's first two)."""
    local, _, domain = email.rpartition("@")
    # A fixed run of stars: the mask must not tell how long the local part is; and a
    # local part of one or two characters is not shown whole.
    shown = local[: min(2, len(local) - 1)]
    return f"{shown}*****@{domain}"


def mask_phone(phone: str) -> str:
    """``+14155550189`` -> ``*********89`` (only the last two digits)."""
    digits = [character for character in phone if character.isdigit()]
    return "*" * max(len(digits) - 2, 1) + "".join(digits[-2:])


def mask(channel: Channel | str, value: str) -> str:
    return mask_email(value) if Channel(channel) is Channel.EMAIL else mask_phone(value)


def masked_destination(channel: str, destination: str) -> str:
    """Where an outbox message goes, as operators see it: a contact masked; a webhook's
    destination is its endpoint's id, nobody's contact."""
    if channel == Channel.WEBHOOK.value:
        return destination
    try:
        return mask(Channel(channel), destination)
    except ValueError:
        return "…"
