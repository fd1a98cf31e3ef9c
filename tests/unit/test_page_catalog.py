"""The pages' German catalog: complete, current with the sources, and well formed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from secinfo.domain import passwords
from secinfo.domain.errors import (
    DomainError,
    InvalidCode,
    MaxAttemptsReached,
    TooManyRequests,
    VerificationNotPending,
    WeakPassword,
)
from secinfo.web.error_text import error_text
from secinfo.web.i18n import LANGUAGES, LOCALES_DIR, choose, duration, supported, wait_in_words

ROOT = Path(__file__).parents[2]
GERMAN = choose(accept_language="de")
ENGLISH = choose()
# What `make translations` passes (-k …), on top of Babel's own gettext keywords.
KEYWORDS = DEFAULT_KEYWORDS | {
    "N_": None,
    "n_": (1, 2),
    "np_": ((1, "c"), 2, 3),
    "p_": ((1, "c"), 2),
}


def _catalog(language: str) -> object:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=language)


def _ids(catalog: object) -> set[tuple[str | None, object]]:
    return {(message.context, message.id) for message in catalog if message.id}  # type: ignore[attr-defined]


def test_every_page_language_has_a_catalog_but_english() -> None:
    assert set(LANGUAGES) == {"en", "de"}
    for language in set(LANGUAGES) - {"en"}:
        assert (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").is_file()


def test_the_template_is_current_with_the_sources() -> None:
    """``make translations`` was run after the last change of a page's text."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = {
        (context, message)
        for _, _, message, _, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS
        )
    }
    with (LOCALES_DIR / "messages.pot").open("rb") as source:
        template = _ids(read_po(source))
    assert found == template, (
        "run `make translations` and translate the new entries: "
        f"new {sorted(map(str, found - template))[:5]}, gone {sorted(map(str, template - found))[:5]}"
    )


def test_german_is_complete_without_fuzzy_or_empty_entries() -> None:
    with (LOCALES_DIR / "messages.pot").open("rb") as source:
        template = _ids(read_po(source))
    german = _catalog("de")
    assert _ids(german) == template
    untranslated = []
    for message in german:  # type: ignore[attr-defined]
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            untranslated.append(message.id)
    assert not untranslated
    assert not list(german.check())  # type: ignore[attr-defined]  # placeholders match
    assert german.plural_forms == "nplurals=2; plural=(n != 1);"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("tag", "language"),
    [("de", "de"), ("de-CH", "de"), ("de_AT", "de"), ("en-GB", "en"), ("fr", None), ("", None)],
)
def test_a_tag_maps_to_a_written_language(tag: str, language: str | None) -> None:
    assert supported(tag) == language


def test_periods_in_german_and_after_in() -> None:
    assert duration(timedelta(days=30), GERMAN) == "30 Tage"
    assert duration(timedelta(days=30), GERMAN, dative=True) == "30 Tagen"  # "in 30 Tagen"
    assert duration(timedelta(hours=1), GERMAN) == "1 Stunde"
    assert duration(timedelta(minutes=10), GERMAN) == "10 Minuten"
    assert duration(timedelta(days=30), ENGLISH, dative=True) == "30 days"
    assert wait_in_words(3240, GERMAN) == "54 Minuten"
    assert wait_in_words(1, GERMAN) == "1 Sekunde"
    assert wait_in_words(3 * 86400, GERMAN) == "3 Tagen"


def test_refusals_are_worded_in_german() -> None:
    wrong = InvalidCode()
    assert error_text(wrong, GERMAN) == (
        "Dieser Code ist nicht richtig. Sehen Sie in der neuesten Nachricht nach und "
        "versuchen Sie es erneut."
    )
    assert error_text(wrong, ENGLISH) == wrong.message
    limited = TooManyRequests(
        "Too many requests (sign-ins per account: 5 per 1 hour); try again in 54 minutes.",
        retry_after=3240,
    )
    assert error_text(limited, GERMAN) == (
        "Zu viele Versuche in kurzer Zeit; versuchen Sie es in 54 Minuten erneut."
    )
    assert error_text(limited, ENGLISH) == limited.message  # the API's words, unchanged
    # A message worded with values the catalog cannot hold: its kind's German default.
    ended = VerificationNotPending("This verification is approved; start a new one.")
    assert error_text(ended, GERMAN) == "Diese Bestätigung ist beendet; beginnen Sie eine neue."
    assert error_text(MaxAttemptsReached(), GERMAN).startswith("Zu viele falsche Codes")
    assert error_text(DomainError("Something quite unknown."), GERMAN) == (
        "Die Anfrage konnte nicht ausgeführt werden."
    )


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("short", ()),
        ("x" * (passwords.MAX_LENGTH + 1), ()),
        ("password1", ()),
        ("my name is margarete", ("margarete",)),
    ],
)
def test_every_password_rule_is_worded_in_german(password: str, context: tuple[str, ...]) -> None:
    with pytest.raises(WeakPassword) as refused:
        passwords.check_password_strength(password, context=context)
    german = error_text(refused.value, GERMAN)
    assert german != refused.value.message and "Kennwort" in german
