"""Unknown sign-in names must look like real ones: in the answer and in its timing.

``ContactShapes`` (one per process, in ``Deps``) holds the *distribution of shapes* of
real recovery answers (how many contacts, which channels, in which order, how long a
masked phone number is), read from a sample of real accounts every few minutes. Each
unknown name is mapped by a keyed hash (so asking twice shows the same) onto one shape
of that sample: the decoys for unknown names are shaped like the real answers, not only
plausible one by one. What a decoy cannot copy from a real account without leaking it
(an alternate email's domain) is taken from the large public mail providers.

The same sample gives the real accounts an unknown name's statements run on (and
whose rows are thrown away, or whose writes are rolled back): the work, and so the
time, is the real name's. ``CommitTwin`` evens out what is left: a commit against a
rollback.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from secinfo.domain.contacts import Channel, mask
from secinfo.domain.model import SecurityInfo

if TYPE_CHECKING:
    from secinfo.services.deps import Deps

# A shape entry: "name" (the typed name itself), "email", or "sms:<digits>".
Shape = tuple[str, ...]

# Where a decoy's alternate email lives: providers large enough that a domain tells
# nothing about the account.
PUBLIC_MAIL_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "hotmail.com",
    "proton.me",
)
_LOCAL_START = "abcdefghijklmnopqrstuvwxyz"


class CommitTwin:
    """The last few hundred microseconds: an unknown name's failure record is rolled
    back where a real name's is committed, and a commit costs a little more (SQLite
    writes its log). ``observe`` records real commits; ``pad`` makes a rollback take
    as long as one of them by waiting the difference out. The wait is short (a fraction
    of a millisecond, at most 5 ms) and timed with the clock, not slept: a sleep's
    wake-up is rounded to the millisecond, longer than the difference itself.
    """

    def __init__(self, size: int = 256) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def observe(self, seconds: float) -> None:
        self._samples.append(seconds)

    def pad(self, elapsed: float) -> None:
        if not self._samples:
            return
        wait = min(secrets.choice(self._samples) - elapsed, 0.005)
        until = time.perf_counter() + wait
        while time.perf_counter() < until:
            pass


def shape_of(items: Sequence[SecurityInfo]) -> tuple[Channel, Shape] | None:
    """What a recovery answer for this account shows, reduced to its shape; ``None`` for
    an account without a sign-in name that can receive codes."""
    contacts = [item for item in items if item.can_receive_codes and item.channel is not None]
    name = next((item for item in contacts if item.sign_in), None)
    if name is None or name.channel is None:
        return None
    entries: list[str] = []
    for item in contacts:
        if item is name:
            entries.append("name")
        elif item.channel is Channel.EMAIL:
            entries.append("email")
        else:
            entries.append(f"sms:{sum(character.isdigit() for character in item.value)}")
    return name.channel, tuple(entries)


@dataclass
class ContactShapes:
    """The distribution of recovery-answer shapes over a sample of real accounts."""

    refresh_every: timedelta = timedelta(minutes=10)
    sample_size: int = 500
    _counts: dict[Channel, Counter[Shape]] = field(default_factory=dict)
    # A few real accounts of each shape: an unknown name's lookups run on one of them
    # (and throw the rows away), so they cost what a real name's do.
    _examples: dict[tuple[Channel, Shape], list[str]] = field(default_factory=dict)
    _read_at: datetime | None = None

    def stale(self, now: datetime) -> bool:
        return self._read_at is None or now - self._read_at >= self.refresh_every

    def replace(self, accounts: Sequence[Sequence[SecurityInfo]], now: datetime) -> None:
        counts: dict[Channel, Counter[Shape]] = {}
        examples: dict[tuple[Channel, Shape], list[str]] = {}
        for items in accounts:
            found = shape_of(items)
            if found is not None:
                counts.setdefault(found[0], Counter())[found[1]] += 1
                kept = examples.setdefault(found, [])
                if len(kept) < 8:
                    kept.append(items[0].account_id)
        self._counts, self._examples, self._read_at = counts, examples, now

    def choose(self, channel: Channel, secret: bytes, value: str) -> Shape:
        """The shape for this unknown name: the same every time while the sample holds."""
        counts = self._counts.get(channel)
        if not counts:
            return ("name",)
        point = int.from_bytes(_stream(secret, value, b"shape", 8), "big") / 2**64
        total = sum(counts.values())
        running = 0
        ordered = sorted(counts.items())
        for shape, count in ordered:
            running += count
            if point * total < running:
                return shape
        return ordered[-1][0]

    def any_account(self) -> str | None:
        """A real account to run an unknown name's statements on."""
        return next((kept[0] for kept in self._examples.values() if kept), None)

    def example(self, channel: Channel, shape: Shape, secret: bytes, value: str) -> str | None:
        """A real account of this shape, the same one for the same name."""
        kept = self._examples.get((channel, shape))
        if not kept:
            return None
        return kept[_stream(secret, value, b"example", 1)[0] % len(kept)]


def decoy_masks(
    shape: Shape, channel: Channel, value: str, secret: bytes
) -> list[tuple[Channel, str]]:
    """The masked contacts a decoy of ``shape`` shows for the typed name ``value``."""
    shown: list[tuple[Channel, str]] = []
    for position, entry in enumerate(shape):
        pick = _stream(secret, value, f"entry{position}".encode(), 4)
        if entry == "name":
            shown.append((channel, mask(channel, value)))
        elif entry == "email":
            local = _LOCAL_START[pick[0] % 26] + _LOCAL_START[pick[1] % 26]
            domain = PUBLIC_MAIL_DOMAINS[pick[2] % len(PUBLIC_MAIL_DOMAINS)]
            shown.append((Channel.EMAIL, f"{local}*****@{domain}"))
        else:
            digits = int(entry.partition(":")[2] or 11)
            last = int.from_bytes(pick[:2], "big") % 100
            shown.append((Channel.SMS, "*" * max(digits - 2, 1) + f"{last:02d}"))
    return shown


def _stream(secret: bytes, value: str, label: bytes, size: int) -> bytes:
    return hmac.new(secret, label + b"\0" + value.encode(), hashlib.sha256).digest()[:size]


@dataclass
class EnumerationGuard:
    """The per-process state of the guards above."""

    shapes: ContactShapes = field(default_factory=ContactShapes)
    commits: CommitTwin = field(default_factory=CommitTwin)
    refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


async def contact_shapes(deps: Deps) -> ContactShapes:
    """The shapes of real recovery answers, read again every few minutes."""
    guard = deps.enumeration
    if guard.shapes.stale(deps.clock.now()):
        async with guard.refresh_lock:
            if guard.shapes.stale(deps.clock.now()):
                async with deps.uow() as uow:
                    sample = await uow.security_info.sample_accounts(guard.shapes.sample_size)
                guard.shapes.replace(sample, deps.clock.now())
    return guard.shapes
