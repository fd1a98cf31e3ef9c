"""Which characters text from outside may carry.

Nothing typed by a person or sent by a client needs a control character: NUL, the other
C0 controls (tab, newline and carriage return only where text allows line breaks), DEL
and the C1 controls, the bidirectional embeddings, overrides and isolates (which make a
label read differently from what it holds), or a lone surrogate (not a character: it
cannot be encoded, and PostgreSQL refuses NUL in text). They are refused where text
enters, with the field named, before anything is looked up or stored.
"""

from __future__ import annotations

import re

from secinfo.domain.errors import InvalidInput

_LINE_BREAKS = "\t\n\r"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_SURROGATES = "\ud800-\udfff"
_ANYWHERE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}]")
_SINGLE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}]")


def bad_character(text: str, *, allow_line_breaks: bool = False) -> str | None:
    """The first character ``text`` may not carry, or ``None``."""
    found = (_ANYWHERE if allow_line_breaks else _SINGLE_LINE).search(text)
    return found.group() if found else None


def describe(character: str) -> str:
    """``U+0000`` and the like: a refused character named without printing it."""
    return f"U+{ord(character):04X}"


def credential_name(name: str, what: str) -> str:
    """A credential's name (an API key's, a Twilio-compatible account's): 1 to 100
    characters after trimming."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(f"Give the {what} a name of 1 to 100 characters.")
    return name
