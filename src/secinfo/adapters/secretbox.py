"""AES-GCM sealing for message bodies that carry a code, with key rotation.

The first key seals; every key opens. A sealed value names its key by a short id, so
an operator can add a new key in front, and drop the old one once the outbox holds
nothing sealed with it.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1"


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        for key in keys:
            if len(key) != 32:
                raise ValueError("encryption keys must be 32 bytes (AES-256)")
        self._sealing = keys[0]
        self._keys = {key_id(key): AESGCM(key) for key in keys}
        self._sealing_id = key_id(self._sealing)

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
