"""Password rules: at least 8 characters and not one of the most common passwords."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import timedelta
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


@dataclass(frozen=True)
class PasswordHashPolicy:
    """How passwords are hashed, and how many hashes may run and wait at once.

    argon2id at OWASP's recommendation (19 MiB, 2 passes, 1 lane: ~25 ms on one core).
    Hashes run in a pool of ``workers`` threads (0: one per CPU core); at most ``queue``
    more wait for a thread, and none longer than ``max_wait``: a request that cannot
    start in time is refused at once as overloaded, with ``retry_after`` seconds.
    """

    time_cost: int = 2
    memory_kib: int = 19 * 1024
    parallelism: int = 1
    workers: int = 0
    queue: int = 64
    max_wait: timedelta = timedelta(milliseconds=500)
    retry_after_seconds: int = 1

    def __post_init__(self) -> None:
        if self.time_cost < 1:
            raise ValueError("argon2 time cost must be at least 1")
        if self.parallelism < 1:
            raise ValueError("argon2 parallelism must be at least 1")
        if self.memory_kib < 8 * self.parallelism:
            raise ValueError(
                f"argon2 memory must be at least 8 KiB per lane ({8 * self.parallelism} KiB "
                f"for parallelism {self.parallelism})"
            )
        if self.workers < 0 or self.queue < 0 or self.max_wait <= timedelta(0):
            raise ValueError("hash workers and queue must be >= 0 and the wait positive")
