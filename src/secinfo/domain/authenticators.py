"""Authenticator apps (RFC 6238 TOTP) and the recovery code: secrets, codes, checks.

TOTP: SHA-1, 6 digits, 30-second steps, one step either side accepted. A time step is
accepted once per item: a check only succeeds for a step later than the last accepted
one (RFC 6238 §5.2), so a replay, even inside its window, is refused.

The recovery code: 25 characters from an alphabet without look-alikes (31 symbols,
≈124 bits), shown in five groups of five, kept only as a keyed hash.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp

from secinfo.domain.codes import ALPHANUMERIC, normalize_typed_code

PERIOD = 30
DIGITS = 6
WINDOW = 1  # steps either side
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length
RECOVERY_CODE_LENGTH = 25
RECOVERY_CODE_GROUP = 5


def new_secret() -> str:
    """A base32 secret of 160 random bits (32 characters, no padding)."""
    return pyotp.random_base32(length=32)


def grouped(text: str, size: int = 4) -> str:
    """``ABCD EFGH …``: easier to read and type by hand."""
    return " ".join(text[index : index + size] for index in range(0, len(text), size))


def otpauth_uri(secret: str, account_name: str, issuer: str) -> str:
    """The Key Uri Format authenticator apps read from a QR code."""
    label = quote(f"{issuer}:{account_name}", safe="@:+*")  # masked names stay readable
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def time_step(moment: datetime) -> int:
    return int(moment.timestamp()) // PERIOD


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).at(step * PERIOD)


def matching_step(secret: str, typed: str, now: datetime, last_step: int | None) -> int | None:
    """The time step ``typed`` belongs to, if it is within one step of ``now`` and later
    than ``last_step`` (the last one accepted); None otherwise. Every candidate is
    compared, in constant time, so the answer's timing does not depend on which matched."""
    code = "".join(character for character in typed if not character.isspace())
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = time_step(now)
    found: int | None = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        fresh = last_step is None or step > last_step
        if hmac.compare_digest(code_at_step(secret, step), code) and fresh and found is None:
            found = step
    return found


def new_recovery_code() -> str:
    """``XXXXX-XXXXX-XXXXX-XXXXX-XXXXX``."""
    raw = "".join(secrets.choice(ALPHANUMERIC) for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(
        raw[index : index + RECOVERY_CODE_GROUP]
        for index in range(0, RECOVERY_CODE_LENGTH, RECOVERY_CODE_GROUP)
    )


def looks_like_recovery_code(typed: str) -> bool:
    code = normalize_typed_code(typed)
    return len(code) == RECOVERY_CODE_LENGTH and all(c in ALPHANUMERIC for c in code)
