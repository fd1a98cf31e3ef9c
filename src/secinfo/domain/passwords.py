"""Password rules: at least 8 characters and not one of the most common passwords."""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from secinfo.domain.errors import WeakPassword

MIN_LENGTH = 8
MAX_LENGTH = 1024


@cache
def common_passwords() -> frozenset[str]:
    """20,000 common passwords (the list Django ships, from Royce Williams' research)."""
    data = resources.files("secinfo.domain").joinpath("data/common-passwords.txt.gz")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().lower() for line in lines if line.strip())


def check_password_strength(password: str, *, context: tuple[str, ...] = ()) -> None:
    """Raise :class:`WeakPassword` saying what is wrong, or return quietly."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Choose a password of at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Choose a password of at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords():
        raise WeakPassword(
            "That password is one of the most common ones and is guessed first; choose another."
        )
    for word in context:
        if word and len(word) >= 4 and word.lower() in lowered:
            raise WeakPassword("Choose a password that does not contain your sign-in name.")
