"""Named rate limits: one table of defaults (allauth's RATE_LIMITS, warehouse's named
limiters), each overridable in config with the same ``"5/hour;10/day"`` syntax.

A limit's category decides what happens when the shared store (Redis) is unreachable:
by default sends and sign-up refuse (an outage must not become free SMS), checks and
sign-ins go through (an outage must not lock everyone out).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    SEND = "send"
    CHECK = "check"
    SIGN_IN = "sign_in"
    SIGN_UP = "sign_up"
    RECOVERY = "recovery"


@dataclass(frozen=True)
class NamedLimit:
    name: str
    rates: str
    category: Category
    description: str


DEFAULT_LIMITS: dict[str, NamedLimit] = {
    limit.name: limit
    for limit in (
        NamedLimit(
            "code.send.destination",
            "3/minute;5/hour;10/day",
            Category.SEND,
            "codes sent to one email address or phone number",
        ),
        NamedLimit(
            "code.send.account",
            "10/hour;30/day",
            Category.SEND,
            "codes sent for one account, to any of its contacts",
        ),
        NamedLimit(
            "code.send.ip",
            "20/hour;100/day",
            Category.SEND,
            "codes requested from one client network (IPv4 /32, IPv6 /64)",
        ),
        NamedLimit(
            "code.send.country",
            "1000/hour",
            Category.SEND,
            "SMS codes sent to one destination country",
        ),
        NamedLimit(
            "code.check.account",
            "30/hour;200/day",
            Category.CHECK,
            "code checks for one account (or one destination for the Verify API)",
        ),
        NamedLimit(
            "code.check.failures",
            "100/day",
            Category.CHECK,
            "consecutive wrong codes for one account or destination (NIST 800-63B "
            "§5.2.2); a right code clears it",
        ),
        NamedLimit(
            "sign_in.name",
            "5/minute;20/hour;100/day",
            Category.SIGN_IN,
            "password sign-ins for one sign-in name: waits grow with each tier",
        ),
        NamedLimit(
            "sign_in.ip",
            "30/minute;300/hour",
            Category.SIGN_IN,
            "password sign-ins from one client network",
        ),
        NamedLimit(
            "passkey.ip",
            "60/minute;600/hour",
            Category.SIGN_IN,
            "passkey sign-in options and answers from one client network",
        ),
        NamedLimit(
            "sign_up.ip", "10/hour;50/day", Category.SIGN_UP, "sign-ups from one client network"
        ),
        NamedLimit(
            "recovery.ip",
            "10/hour;50/day",
            Category.RECOVERY,
            "password recoveries started from one client network",
        ),
        NamedLimit(
            "recovery.name",
            "5/hour;20/day",
            Category.RECOVERY,
            "password recoveries started for one sign-in name",
        ),
    )
}


def client_network(ip: str | None) -> str | None:
    """The key a client address is limited by: IPv4 /32, IPv6 /64 (one subscriber)."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.version == 4:
        return str(address)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def with_overrides(overrides: dict[str, str]) -> dict[str, NamedLimit]:
    """The defaults with some rates replaced; an unknown name is a configuration error."""
    unknown = sorted(set(overrides) - set(DEFAULT_LIMITS))
    if unknown:
        raise ValueError(
            f"unknown rate limit(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_LIMITS)}"
        )
    return {
        name: NamedLimit(name, overrides.get(name, limit.rates), limit.category, limit.description)
        for name, limit in DEFAULT_LIMITS.items()
    }
