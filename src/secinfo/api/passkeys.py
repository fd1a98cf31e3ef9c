"""Passkeys (WebAuthn): options out, the authenticator's answer back, for registering a
passkey, signing in with one and stepping up with one.

``options`` is WebAuthn Level 3 JSON: pass it to
``PublicKeyCredential.parseCreationOptionsFromJSON`` (or ``…RequestOptionsFromJSON``),
then send ``credential.toJSON()`` back with the id of the options.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from secinfo.api import schemas
from secinfo.api.accounts import session_out
from secinfo.api.dependencies import ContextDep, DepsDep, SessionDep
from secinfo.api.signin import challenge_out
from secinfo.services import passkeys, signin

router = APIRouter(prefix="/v1")

REFUSALS = (
    "The answer was refused: error.code says why (passkey_options_expired, "
    "passkey_challenge_used, passkey_challenge_mismatch, passkey_origin_mismatch, "
    "passkey_rp_id_mismatch, passkey_user_not_verified, passkey_signature_invalid, "
    "passkey_invalid)."
)


class RegistrationOptionsOut(BaseModel):
    registration_id: str
    options: dict[str, Any] = Field(..., description="PublicKeyCredentialCreationOptionsJSON")
    expires_at: datetime


class AuthenticationOptionsOut(BaseModel):
    authentication_id: str
    options: dict[str, Any] = Field(..., description="PublicKeyCredentialRequestOptionsJSON")
    expires_at: datetime


class RegistrationRequest(schemas.Body):
    registration_id: str = Field(..., max_length=64)
    credential: dict[str, Any] = Field(
        ..., description="RegistrationResponseJSON: PublicKeyCredential.toJSON() of create()."
    )
    label: str | None = Field(None, max_length=64)


class AuthenticationRequest(schemas.Body):
    authentication_id: str = Field(..., max_length=64)
    credential: dict[str, Any] = Field(
        ..., description="AuthenticationResponseJSON: PublicKeyCredential.toJSON() of get()."
    )


def _authentication(options: passkeys.Options) -> AuthenticationOptionsOut:
    return AuthenticationOptionsOut(
        authentication_id=options.id, options=options.options, expires_at=options.expires_at
    )


UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "passkeys_unavailable: the settings do not allow passkeys."}
}


@router.post(
    "/me/passkeys/registration/options",
    tags=["passkeys"],
    responses={403: {"description": "step_up_required"}, **UNAVAILABLE},
)
async def registration_options(session: SessionDep, deps: DepsDep) -> RegistrationOptionsOut:
    """Options for ``navigator.credentials.create``: a discoverable credential, user
    verification required, attestation none, ES256/EdDSA/RS256, the account's passkeys
    excluded. Good for 5 minutes and one answer. Needs a recent step-up when the account
    already holds active security info."""
    options = await passkeys.registration_options(deps, session)
    return RegistrationOptionsOut(
        registration_id=options.id, options=options.options, expires_at=options.expires_at
    )


@router.post(
    "/me/passkeys/registration",
    status_code=201,
    tags=["passkeys"],
    responses={400: {"description": REFUSALS}, 403: {"description": "step_up_required"}},
)
async def register_passkey(
    body: RegistrationRequest, session: SessionDep, deps: DepsDep, context: ContextDep
) -> schemas.SecurityInfoOut:
    """The new passkey, active at once; every contact gets "A passkey was added"."""
    item = await passkeys.register(
        deps, session, body.registration_id, body.credential, body.label, context
    )
    return schemas.security_info_out(item)


@router.post("/sessions/passkey/options", tags=["sessions", "passkeys"], responses=UNAVAILABLE)
async def sign_in_options(deps: DepsDep, context: ContextDep) -> AuthenticationOptionsOut:
    """Options for ``navigator.credentials.get``: no name needed (discoverable
    credentials, empty allowCredentials), user verification required."""
    return _authentication(await passkeys.sign_in_options(deps, context))


@router.post(
    "/sessions/passkey",
    status_code=201,
    tags=["sessions", "passkeys"],
    responses={
        201: {"model": schemas.SessionOut, "description": "Signed in."},
        202: {"model": schemas.ChallengeOut, "description": "The reconfirm prompt first."},
        400: {"description": REFUSALS},
        401: {"description": "passkey_unknown: no account holds this passkey."},
        403: {
            "description": "passkey_counter_regressed (the passkey is now suspect), "
            "passkey_suspect, password_reset_required."
        },
        409: {"description": "passkey_challenge_used"},
    },
)
async def sign_in_with_passkey(
    body: AuthenticationRequest, deps: DepsDep, context: ContextDep
) -> JSONResponse:
    """Sign in with a passkey: no name, no password, and no code (a passkey that
    verified its user is two factors). The reconfirm prompt may still come first."""
    result = await signin.sign_in_with_passkey(
        deps, body.authentication_id, body.credential, context
    )
    if result.session is not None:
        return JSONResponse(session_out(result.session).model_dump(mode="json"), status_code=201)
    assert result.challenge is not None
    return JSONResponse(challenge_out(result.challenge).model_dump(mode="json"), status_code=202)


@router.post(
    "/me/step-up/passkey/options",
    tags=["step-up", "passkeys"],
    responses={404: {"description": "No active passkey on the account."}, **UNAVAILABLE},
)
async def step_up_options(session: SessionDep, deps: DepsDep) -> AuthenticationOptionsOut:
    """Options for ``navigator.credentials.get`` with the account's passkeys."""
    return _authentication(await passkeys.step_up_options(deps, session))


@router.post(
    "/me/step-up/passkey",
    status_code=201,
    tags=["step-up", "passkeys"],
    responses={400: {"description": REFUSALS}, 401: {"description": "passkey_unknown"}},
)
async def step_up_with_passkey(
    body: AuthenticationRequest, session: SessionDep, deps: DepsDep, context: ContextDep
) -> schemas.StepUpOut:
    until = await passkeys.step_up(deps, session, body.authentication_id, body.credential, context)
    return schemas.StepUpOut(privileged_until=until)
