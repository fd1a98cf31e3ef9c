"""The WebAuthn ceremonies' server side, on py_webauthn: options out, responses checked.

Every reason a response is refused has its own error code. The checks that have one
(ceremony type, challenge, origin, relying-party id hash, user verification) run first on
the parsed client data and authenticator data; py_webauthn then verifies the whole
response again, attestation and signature included. No CBOR or COSE is parsed here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    ClientDataType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from secinfo.domain.errors import (
    PasskeyChallengeMismatch,
    PasskeyOriginMismatch,
    PasskeyRefused,
    PasskeyRpIdMismatch,
    PasskeySignatureInvalid,
    PasskeysUnavailable,
    PasskeyUserNotVerified,
)
from secinfo.domain.passkeys import origin_of, rp_id_problem
from secinfo.services.deps import Deps


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origin: str


def relying_party(deps: Deps) -> RelyingParty:
    """Ours, from the settings; refused with the reason when they cannot serve passkeys."""
    config = deps.config
    problem = rp_id_problem(config.web_domain, config.public_url)
    if problem:
        raise PasskeysUnavailable(
            "Passkeys are off on this server: SECINFO_WEB_DOMAIN must be the host of "
            f"SECINFO_PUBLIC_URL or a parent domain of it ({problem})."
        )
    return RelyingParty(
        config.web_domain.lower(), config.product_name, origin_of(config.public_url)
    )


def new_challenge(deps: Deps) -> str:
    return b64url(secrets.token_bytes(deps.config.passkeys.challenge_bytes))


def new_user_handle(deps: Deps) -> str:
    return b64url(secrets.token_bytes(deps.config.passkeys.user_handle_bytes))


def _descriptors(credential_ids: list[str]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=from_b64url(value)) for value in credential_ids]


def creation_options(
    deps: Deps,
    rp: RelyingParty,
    challenge: str,
    user_handle: str,
    user_name: str,
    exclude: list[str],
) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3): a discoverable
    credential, user verification required, no attestation."""
    policy = deps.config.passkeys
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=from_b64url(user_handle),
        user_name=user_name,
        user_display_name=user_name,
        challenge=from_b64url(challenge),
        timeout=policy.timeout_ms,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=[COSEAlgorithmIdentifier(alg) for alg in policy.algorithms],
    )
    found: dict[str, Any] = json.loads(options_to_json(options))
    return found


def request_options(
    deps: Deps, rp: RelyingParty, challenge: str, allow: list[str]
) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptionsJSON; ``allow`` empty for discoverable sign-in."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=from_b64url(challenge),
        timeout=deps.config.passkeys.timeout_ms,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    found: dict[str, Any] = json.loads(options_to_json(options))
    return found


def _check_client_data(raw: bytes, ceremony: ClientDataType, challenge: str, origin: str) -> None:
    try:
        client = parse_client_data_json(raw)
    except Exception:
        raise PasskeyRefused("The passkey's client data is not valid JSON.") from None
    if client.type != ceremony:
        raise PasskeyRefused(f"The passkey answered another ceremony ({client.type!s}).")
    if client.challenge != from_b64url(challenge):
        raise PasskeyChallengeMismatch()
    if client.origin != origin:
        raise PasskeyOriginMismatch(
            f"The passkey was used on {client.origin[:100]}, not on {origin}; "
            "only this site's pages may use it."
        )


def _check_authenticator_data(data: AuthenticatorData, rp: RelyingParty) -> None:
    if data.rp_id_hash != hashlib.sha256(rp.id.encode()).digest():
        raise PasskeyRpIdMismatch(
            f"The passkey belongs to another site: its relying-party id is not {rp.id}."
        )
    if not data.flags.up:
        raise PasskeyRefused("The authenticator did not see you present (no touch or tap).")
    if not data.flags.uv:
        raise PasskeyUserNotVerified()


@dataclass(frozen=True)
class NewCredential:
    credential_id: str
    public_key: str
    sign_count: int
    aaguid: str


def parse_registration(credential: dict[str, Any]) -> RegistrationCredential:
    try:
        return parse_registration_credential_json(credential)
    except Exception:
        raise PasskeyRefused(
            "The credential is not a RegistrationResponseJSON: send what "
            "navigator.credentials.create() returned, as PublicKeyCredential.toJSON()."
        ) from None


def verify_registration(
    rp: RelyingParty, challenge: str, credential: RegistrationCredential, algorithms: list[int]
) -> NewCredential:
    response = credential.response
    _check_client_data(
        response.client_data_json, ClientDataType.WEBAUTHN_CREATE, challenge, rp.origin
    )
    try:
        attestation = parse_attestation_object(response.attestation_object)
    except Exception:
        raise PasskeyRefused("The passkey's attestation object cannot be read.") from None
    _check_authenticator_data(attestation.auth_data, rp)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=from_b64url(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
            supported_pub_key_algs=[COSEAlgorithmIdentifier(alg) for alg in algorithms],
        )
    except InvalidRegistrationResponse as error:
        raise PasskeyRefused(f"The passkey could not be registered: {error}.") from None
    return NewCredential(
        b64url(verified.credential_id),
        b64url(verified.credential_public_key),
        verified.sign_count,
        verified.aaguid,
    )


def parse_assertion(credential: dict[str, Any]) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(credential)
    except Exception:
        raise PasskeyRefused(
            "The credential is not an AuthenticationResponseJSON: send what "
            "navigator.credentials.get() returned, as PublicKeyCredential.toJSON()."
        ) from None


def user_handle_of(credential: AuthenticationCredential) -> str | None:
    handle = credential.response.user_handle
    return b64url(handle) if handle else None


def verify_assertion(
    rp: RelyingParty, challenge: str, credential: AuthenticationCredential, public_key: str
) -> int:
    """Check the assertion; its signature counter comes back (the caller compares it)."""
    response = credential.response
    _check_client_data(response.client_data_json, ClientDataType.WEBAUTHN_GET, challenge, rp.origin)
    try:
        data = parse_authenticator_data(response.authenticator_data)
    except Exception:
        raise PasskeyRefused("The passkey's authenticator data cannot be read.") from None
    _check_authenticator_data(data, rp)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=from_b64url(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=from_b64url(public_key),
            credential_current_sign_count=0,  # compared by the caller, after the signature
            require_user_verification=True,
        )
    except InvalidAuthenticationResponse as error:
        if "signature" in str(error).lower():
            raise PasskeySignatureInvalid() from None
        raise PasskeyRefused(f"The passkey's answer is not valid: {error}.") from None
    return verified.new_sign_count
