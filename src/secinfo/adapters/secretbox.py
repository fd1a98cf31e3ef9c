"""AES-GCM sealing of what must not be readable at rest, with key rotation; and the
keyed blind index contacts are looked up by.

Sealed: message bodies that carry a code, authenticator secrets, webhook secrets, and
every contact value (security info values, verification and outbox destinations). The
first key seals; every key opens. A sealed value names its key by a short id, so an
operator can add a new key in front, run ``secinfo keys reseal``, and drop the old one.

A sealed value cannot be compared in SQL, so contacts are looked up and kept unique by
their blind index: HMAC-SHA256 of the normalised contact key under the index key
(``SECINFO_CONTACT_INDEX_KEY``). Unlike the sealing keys it cannot rotate by adding a
key: a new index key means recomputing every index (no command does that today).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "sealed:v1"


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def derived_index_key(secret: bytes) -> bytes:
    """A 32-byte blind-index key derived (HKDF-SHA256) from a secret: development derives
    it from the server secret, tests from their encryption key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"secinfo contact index"
    ).derive(secret)


class SecretBox:
    def __init__(self, keys: list[bytes], index_key: bytes | None = None) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        for key in keys:
            if len(key) != 32:
                raise ValueError("encryption keys must be 32 bytes (AES-256)")
        if index_key is not None and len(index_key) < 32:
            raise ValueError("the contact index key must be at least 32 bytes")
        self._sealing = keys[0]
        self._keys = {key_id(key): AESGCM(key) for key in keys}
        self._sealing_id = key_id(self._sealing)
        self._index_key = index_key if index_key is not None else derived_index_key(keys[-1])

    @property
    def sealing_key_id(self) -> str:
        return self._sealing_id

    def blind_index(self, text: str) -> str:
        """The keyed hash a contact is looked up by (64 hex digits); the caller passes the
        contact's key (``contact_key``), or its exact spelling where that is compared."""
        return hmac.new(self._index_key, text.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def sealed_key_id(value: str) -> str | None:
        """The id of the key ``value`` was sealed with (None when it is not sealed)."""
        if not SecretBox.is_sealed(value):
            return None
        return value.split(":", 3)[2]

    def seal(self, plaintext: str, associated: str = "") -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._sealing_id].encrypt(
            nonce, plaintext.encode(), associated.encode()
        )
        payload = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{PREFIX}:{self._sealing_id}:{payload}"

    def open(self, value: str, associated: str = "") -> str:
        if not value.startswith(PREFIX + ":"):
            return value
        _, _, kid, payload = value.split(":", 3)
        cipher = self._keys.get(kid)
        if cipher is None:
            raise ValueError(f"no key with id {kid} to open this value")
        raw = base64.urlsafe_b64decode(payload)
        return cipher.decrypt(raw[:12], raw[12:], associated.encode()).decode()

    @staticmethod
    def is_sealed(value: str) -> bool:
        return value.startswith(PREFIX + ":")
