"""A software WebAuthn authenticator and client, for tests: what a browser and a
platform authenticator do with the options, built per the WebAuthn Level 3 spec.

ES256 keys from ``cryptography``, attestation ``none``, discoverable credentials that
remember their user handle, a signature counter per credential. Every knob a test needs
to send something wrong (another origin, another relying-party id, an older counter, a
broken signature, no user verification) is an argument.

authenticatorData (§6.1): rpIdHash (32) | flags (1) | signCount (4, big-endian) |
attestedCredentialData (registration: aaguid (16) | credentialIdLength (2) |
credentialId | credentialPublicKey as a COSE_Key). The attestation object is the CBOR
map {fmt, attStmt, authData} (§6.5); the assertion signs authenticatorData ‖
SHA-256(clientDataJSON) (§6.3.3).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40
# The AAGUID of Google Password Manager: the server names it.
GOOGLE_PASSWORD_MANAGER = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


def cose_public_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """COSE_Key of an EC2 P-256 key for ES256 (RFC 9052/9053): kty 2, alg -7, crv 1, x, y."""
    numbers = key.public_key().public_numbers()
    return cbor2.dumps(
        {
            1: 2,
            3: -7,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
    )


@dataclass
class SoftAuthenticator:
    origin: str = "http://localhost:8000"
    aaguid: bytes = GOOGLE_PASSWORD_MANAGER
    counts: bool = True  # keeps a signature counter (some synced passkeys send 0)
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
    ) -> dict[str, Any]:
        """navigator.credentials.create(): a new discoverable credential, as
        RegistrationResponseJSON."""
        assert options["authenticatorSelection"]["residentKey"] == "required"
        excluded = {from_b64url(item["id"]) for item in options.get("excludeCredentials", [])}
        assert not excluded & set(self.credentials), "InvalidStateError: already registered"
        relying_party = rp_id or options["rp"]["id"]
        credential = Credential(
            id=os.urandom(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=options["rp"]["id"],
            user_handle=from_b64url(options["user"]["id"]),
        )
        self.credentials[credential.id] = credential
        flags = UP | AT | (UV if user_verified else 0)
        authenticator_data = (
            hashlib.sha256(relying_party.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", credential.sign_count)
            + self.aaguid
            + struct.pack(">H", len(credential.id))
            + credential.id
            + cose_public_key(credential.key)
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": authenticator_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: bytes | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_verified: bool = True,
        tamper: bool = False,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get(): an assertion as AuthenticationResponseJSON. With
        an empty allowCredentials the (only or given) discoverable credential answers."""
        allowed = [from_b64url(item["id"]) for item in options.get("allowCredentials", [])]
        if credential_id is None:
            candidates = [
                found
                for found in self.credentials.values()
                if found.rp_id == options["rpId"] and (not allowed or found.id in allowed)
            ]
            assert candidates, "NotAllowedError: no credential for this site"
            credential = candidates[-1]
        else:
            credential = self.credentials[credential_id]
        if sign_count is not None:
            credential.sign_count = sign_count
        elif self.counts:
            credential.sign_count += 1
        flags = UP | (UV if user_verified else 0)
        authenticator_data = (
            hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
            + bytes([flags])
            + struct.pack(">I", credential.sign_count)
        )
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = credential.key.sign(
            authenticator_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        if tamper:
            authenticator_data = authenticator_data[:-1] + bytes([authenticator_data[-1] ^ 1])
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(authenticator_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
        }
