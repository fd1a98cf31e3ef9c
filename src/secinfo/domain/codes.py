"""One-time codes: generated from ``secrets``, kept only as keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

DIGITS = "0123456789"
# No 0/O, 1/I/L: an alphanumeric code is read off a phone and typed by hand.
ALPHANUMERIC = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def generate_code(length: int = 6, alphanumeric: bool = False) -> str:
    if not 4 <= length <= 10:
        raise ValueError("code length must be between 4 and 10")
    alphabet = ALPHANUMERIC if alphanumeric else DIGITS
    return "".join(secrets.choice(alphabet) for _ in range(length))


def normalize_typed_code(typed: str) -> str:
    """What a person types: spaces and dashes dropped, letters upper-cased."""
    return "".join(character for character in typed if character not in " -\t").upper()


class CodeHasher:
    """HMAC-SHA256 with a server secret, bound to the verification it belongs to.

    Binding the verification id into the MAC means a code hash copied to another row
    does not verify there.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the code secret must be at least 16 bytes")
        self._secret = secret

    def hash(self, verification_id: str, code: str) -> str:
        message = f"{verification_id}:{normalize_typed_code(code)}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def secret_for(self, purpose: str) -> bytes:
        """A key derived for another use, so the code key is never used twice."""
        return hmac.new(self._secret, f"secinfo:{purpose}".encode(), hashlib.sha256).digest()

    def matches(self, verification_id: str, code: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.hash(verification_id, code), stored_hash)


def token_hash(token: str) -> str:
    """Session tokens and API keys carry 256 bits of entropy: a plain SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"
