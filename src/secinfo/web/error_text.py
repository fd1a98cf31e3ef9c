"""A refusal in the page's language.

Domain errors carry English text for the API, whose JSON messages stay English (clients
act on the ``code``). Pages show the same refusal in the reader's language: the catalog
holds every fixed message (``i18n.extract_error_messages`` collects them); messages
worded with values (a time, a wait) are worded here again from the error's details; and
a message the catalog lacks falls back to its kind's translated default.
"""

from __future__ import annotations

from datetime import datetime

from secinfo.domain import passwords
from secinfo.domain.dates import format_moment
from secinfo.domain.errors import (
    DomainError,
    SecurityInfoChangePending,
    TooManyRequests,
    WeakPassword,
)
from secinfo.web.i18n import DEFAULT_LANGUAGE, Translator, wait_in_words


def _with_values(error: DomainError, t: Translator) -> str | None:
    details = error.details
    if isinstance(error, SecurityInfoChangePending) and isinstance(
        details.get("ends_at"), datetime
    ):
        return t._(
            "A change to your security info is waiting until %(ends_at)s. Until then no "
            "other change to security settings or billing info can be made. Cancel the "
            "pending change to make changes now.",
            ends_at=format_moment(details["ends_at"], t.locale),
        )
    retry_after = details.get("retry_after")
    if isinstance(error, TooManyRequests) and isinstance(retry_after, int):
        return t._(
            "Too many tries in a short time; try again in %(wait)s.",
            wait=wait_in_words(retry_after, t),
        )
    if isinstance(error, WeakPassword):  # worded with the limits of domain.passwords
        if error.message == f"Choose a password of at least {passwords.MIN_LENGTH} characters.":
            return t._(
                "Choose a password of at least %(num)d characters.", num=passwords.MIN_LENGTH
            )
        if error.message == f"Choose a password of at most {passwords.MAX_LENGTH} characters.":
            return t._("Choose a password of at most %(num)d characters.", num=passwords.MAX_LENGTH)
    return None


def error_text(error: DomainError, t: Translator) -> str:
    """What a page says for ``error``, in the page's language."""
    if t.language == DEFAULT_LANGUAGE:
        return error.message
    worded = _with_values(error, t)
    if worded is not None:
        return worded
    translated = t.catalog.gettext(error.message)
    if translated != error.message:
        return translated
    for kind in type(error).__mro__:  # "the code has expired", worded for its kind
        default = getattr(kind, "default_message", None)
        if isinstance(default, str) and t.catalog.gettext(default) != default:
            return t.catalog.gettext(default)
    return error.message
