"""Pages in the reader's language: the gettext catalogs and which language a request gets.

The catalogs are ``locales/<lang>/LC_MESSAGES/messages.po`` next to this file (English is
the source text, so it has none). They are compiled in memory when first used: no build
step, so a fresh clone, ``pip install -e .`` and ``make run`` all have them. Refresh them
with ``make translations`` (see README, "Languages").

A request's language, first that applies: ``?lang=`` on the URL, the ``secinfo_lang``
cookie the language switch sets, the signed-in account's locale, the browser's
``Accept-Language``, English (the operator pages under /admin are English only). Python
code that words text for a page uses the page's :class:`Translator`; templates call
``_()``/``ngettext()``, bound to the same one.
"""

from __future__ import annotations

import ast
import gettext as gettext_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import IO, Any

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.messages.extract import extract_python
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request
from jinja2 import pass_context
from jinja2.runtime import Context

from secinfo.http import LANGUAGE_COOKIE

DEFAULT_LANGUAGE = "en"
# The page languages, in the order the switch lists them, with their own names.
LANGUAGES = {"en": "English", "de": "Deutsch"}
LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a string for the catalog where it is defined; it is translated when shown."""
    return message


@cache
def _translations(language: str) -> gettext_module.NullTranslations:
    """The compiled catalog of a page language (English: the source text itself)."""
    po = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT_LANGUAGE or not po.exists():
        return gettext_module.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext_module.GNUTranslations(compiled)


@dataclass(frozen=True)
class Translator:
    """One page language: ``language`` ("de") for the text and ``<html lang>``, and
    ``locale`` ("de-CH", "en-GB") for dates, the reader's own variant of it."""

    language: str
    locale: str

    @property
    def catalog(self) -> gettext_module.NullTranslations:
        return _translations(self.language)

    def _(self, message: str, **values: Any) -> str:
        text = self.catalog.gettext(message)
        return text % values if values else text

    def n_(self, singular: str, plural: str, count: int, **values: Any) -> str:
        """``n_("%(num)d day", "%(num)d days", 3)``: ``num`` is the count."""
        text = self.catalog.ngettext(singular, plural, count)
        return text % {"num": count, **values}

    def np_(self, context: str, singular: str, plural: str, count: int) -> str:
        return self.catalog.npgettext(context, singular, plural, count) % {"num": count}

    def p_(self, context: str, message: str) -> str:
        return self.catalog.pgettext(context, message)


ENGLISH = Translator(DEFAULT_LANGUAGE, DEFAULT_LANGUAGE)


def supported(tag: str | None) -> str | None:
    """``de-CH`` -> ``de``; None for a language the pages are not written in."""
    if not tag:
        return None
    return negotiate_locale([tag.strip().replace("-", "_")], list(LANGUAGES), sep="_") or (
        negotiate_locale([tag.strip().split("-")[0].split("_")[0]], list(LANGUAGES))
    )


def accepted(header: str) -> list[str]:
    """The tags of an ``Accept-Language`` header, most preferred first."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()[:35]
        if not tag or tag == "*" or not tag.replace("-", "").replace("_", "").isalnum():
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def _known_locale(tag: str, language: str) -> str:
    """The reader's variant for dates ("en-GB") when Babel knows it, else the language."""
    try:
        parsed = Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return language
    return tag if parsed.language == language else language


def choose(
    explicit: str | None = None, account: str | None = None, accept_language: str = ""
) -> Translator:
    """The page language, first that applies: an explicit choice, the account's locale,
    the first language of ``Accept-Language`` the pages are written in, English. Dates
    follow the reader's variant of that language ("en-GB") where the browser names one."""
    wanted = accepted(accept_language)
    for tag in (explicit, account, *wanted):
        language = supported(tag)
        if language is None or tag is None:
            continue
        variants = [known for known in wanted if supported(known) == language] + [tag]
        return Translator(language, _known_locale(variants[0], language))
    return ENGLISH


def explicit_choice(request: Request) -> str | None:
    """``?lang=de`` on this URL, else the language switch's cookie."""
    for value in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if value and value in LANGUAGES:
            return value
    return None


def english_only(request: Request) -> None:
    """This page is written in English only (the operator pages): it says so (lang="en")
    whatever the reader's language, and offers no language switch. Called once the page
    is known to be one (the operator gate): a "not found" stays like any other."""
    request.state.translator = ENGLISH
    request.state.english_only = True


def is_english_only(request: Request) -> bool:
    return getattr(request.state, "english_only", False) is True


def translator(request: Request) -> Translator:
    """The page's language for this request (worked out once, then kept on it)."""
    chosen = getattr(request.state, "translator", None)
    if isinstance(chosen, Translator):
        return chosen
    chosen = choose(
        explicit_choice(request),
        getattr(request.state, "account_locale", None),
        request.headers.get("accept-language", ""),
    )
    request.state.translator = chosen
    return chosen


# -- periods in words -------------------------------------------------------------------
def _units(t: Translator, dative: bool) -> dict[str, Callable[[int], str]]:
    """How many days, hours, minutes, seconds, in the page's language. German needs the
    dative after "in"/"nach" ("in 30 Tagen"); English words it the same either way."""

    def day(n: int) -> str:
        if dative:
            return t.np_("dative", "%(num)d day", "%(num)d days", n)
        return t.n_("%(num)d day", "%(num)d days", n)

    return {
        "day": day,
        "hour": lambda n: t.n_("%(num)d hour", "%(num)d hours", n),
        "minute": lambda n: t.n_("%(num)d minute", "%(num)d minutes", n),
        "second": lambda n: t.n_("%(num)d second", "%(num)d seconds", n),
    }


def duration(value: timedelta, t: Translator = ENGLISH, *, dative: bool = False) -> str:
    """``timedelta(days=30)`` -> "30 days"; the largest whole unit that fits."""
    seconds = int(value.total_seconds())
    words = _units(t, dative)
    # Days from two days up ("24 hours", "7 days"), else hours, else minutes.
    for unit, size, least in (("day", 86400, 2), ("hour", 3600, 1), ("minute", 60, 1)):
        if seconds >= size * least and seconds % size == 0:
            return words[unit](seconds // size)
    if seconds >= 3600:
        return words["hour"](round(seconds / 3600))
    return words["second"](seconds)


def wait_in_words(seconds: int, t: Translator = ENGLISH) -> str:
    """``3240`` -> "54 minutes": how long to wait, rounded up, in the largest unit (in
    the dative: "try again in …", "in 54 Minuten")."""
    words = _units(t, dative=True)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * (2 if unit != "minute" else 1):
            return words[unit](-(-seconds // size))
    return words["second"](max(seconds, 1))


# -- templates: _() and ngettext() read the translator the page is rendered with ------------
def of(context: Context) -> Translator:
    chosen = context.get("i18n")
    return chosen if isinstance(chosen, Translator) else ENGLISH


@pass_context
def _template_gettext(context: Context, message: str) -> str:
    return of(context).catalog.gettext(message)


@pass_context
def _template_ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return of(context).catalog.ngettext(singular, plural, count)


@pass_context
def _template_pgettext(context: Context, where: str, message: str) -> str:
    return of(context).catalog.pgettext(where, message)


@pass_context
def _template_npgettext(
    context: Context, where: str, singular: str, plural: str, count: int
) -> str:
    return of(context).catalog.npgettext(where, singular, plural, count)


def install(environment: Any) -> None:
    """Give a Jinja2 environment (with ``jinja2.ext.i18n``) the per-page gettext."""
    environment.install_gettext_callables(
        _template_gettext,
        _template_ngettext,
        newstyle=True,
        pgettext=_template_pgettext,
        npgettext=_template_npgettext,
    )
    environment.policies["ext.i18n.trimmed"] = True


# -- the catalog's error messages: a Babel extractor (see babel.cfg) -----------------------
def extract_error_messages(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str | None, Any, list[str]]]:
    """Babel's Python extraction (``_``, ``N_``, …), and the fixed English texts of
    refusals people see on pages: each ``default_message`` of a domain error, and the
    literal first argument of ``SomeError("…")``. Texts built with values (f-strings) are
    not extracted; ``web.error_text`` words those itself."""
    source = fileobj.read()
    found: Iterator[Any] = extract_python(BytesIO(source), keywords, comment_tags, options)
    yield from found
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "default_message"
            for target in node.targets
        ):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                yield node.lineno, "_", node.value.value, []
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _ERRORS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, "_", node.args[0].value, []


def _error_names() -> frozenset[str]:
    from secinfo.domain import errors

    return frozenset(
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.DomainError)
    )


_ERRORS = _error_names()
