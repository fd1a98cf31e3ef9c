"""Sign-in with its extra steps: a code when needed, and the reconfirm prompt."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from secinfo.api import schemas
from secinfo.api.accounts import session_out
from secinfo.api.dependencies import ContextDep, DepsDep
from secinfo.domain.errors import InvalidInput
from secinfo.domain.model import InfoKind
from secinfo.services import signin

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class ChooseContact(schemas.Body):
    security_info_id: str = Field(..., max_length=64)


class AddContact(schemas.Body):
    kind: Literal["email", "phone"]
    value: str = Field(..., max_length=320)


def challenge_out(view: signin.ChallengeView) -> schemas.ChallengeOut:
    return schemas.ChallengeOut(
        challenge_id=view.challenge.id,
        reason=view.challenge.reason.value,
        options=[schemas.contact_option(item) for item in view.options],
        skippable=view.challenge.skippable,
        enforced_from=view.enforced_from,
        expires_at=view.challenge.expires_at,
    )


@router.post(
    "",
    status_code=201,
    responses={
        201: {"model": schemas.SessionOut, "description": "Signed in."},
        202: {"model": schemas.ChallengeOut, "description": "A code (or reconfirm) first."},
        503: {
            "description": "`overloaded`: too many passwords are being checked; nothing was "
            "changed. Retry after the `Retry-After` seconds."
        },
    },
)
async def sign_in(body: schemas.SignInRequest, deps: DepsDep, context: ContextDep) -> JSONResponse:
    """Password sign-in. Send the device token you were given as ``X-Device-Token``."""
    result = await signin.sign_in(deps, body.sign_in_name, body.password, context)
    if result.session is not None:
        return JSONResponse(session_out(result.session).model_dump(mode="json"), status_code=201)
    assert result.challenge is not None
    return JSONResponse(challenge_out(result.challenge).model_dump(mode="json"), status_code=202)


@router.post("/challenges/{challenge_id}/send", status_code=201)
async def send_challenge_code(
    challenge_id: str, body: ChooseContact, deps: DepsDep, context: ContextDep
) -> schemas.VerificationOut:
    sent = await signin.send_code(deps, challenge_id, body.security_info_id, client_ip=context.ip)
    return schemas.verification_out(sent, deps.config.code_policy, deps.clock.now())


@router.post("/challenges/{challenge_id}/add", status_code=201)
async def add_at_reconfirm(
    challenge_id: str, body: AddContact, deps: DepsDep, context: ContextDep
) -> schemas.VerificationOut:
    """Reconfirm step: add new info instead (replaces old info after 30 days if any)."""
    sent = await signin.add_info(deps, challenge_id, InfoKind(body.kind), body.value, context)
    return schemas.verification_out(sent, deps.config.code_policy, deps.clock.now())


@router.post(
    "/challenges/{challenge_id}/verify",
    status_code=201,
    responses={201: {"model": schemas.SessionOut, "description": "Signed in."}},
)
async def verify_challenge(
    challenge_id: str, body: schemas.ChallengeVerifyRequest, deps: DepsDep, context: ContextDep
) -> JSONResponse:
    """The code sent (``verification_id``), or an authenticator's code or the recovery
    code (``security_info_id``). A used recovery code comes back replaced:
    ``new_recovery_code``, shown once."""
    if body.security_info_id is not None:
        held = await signin.verify_held(
            deps, challenge_id, body.security_info_id, body.code, context
        )
        answer = session_out(held.session).model_dump(mode="json")
        if held.new_recovery_code:
            answer["new_recovery_code"] = held.new_recovery_code
        return JSONResponse(answer, status_code=201)
    if body.verification_id is None:
        raise InvalidInput("Send the verification_id of the code sent, or a security_info_id.")
    new_session = await signin.verify_code(
        deps, challenge_id, body.verification_id, body.code, context
    )
    return JSONResponse(session_out(new_session).model_dump(mode="json"), status_code=201)


@router.post("/challenges/{challenge_id}/skip", status_code=201)
async def skip_reconfirm(
    challenge_id: str, deps: DepsDep, context: ContextDep
) -> schemas.SessionOut:
    """Skip for now at the reconfirm prompt: 24 hours at a time, for 7 days."""
    return session_out(await signin.skip_reconfirm(deps, challenge_id, context))


@router.post("/challenges/{challenge_id}/resend")
async def resend_challenge_code(
    challenge_id: str, body: schemas.ResendRequest, deps: DepsDep, context: ContextDep
) -> schemas.VerificationOut:
    """I didn't get a code: a new one (earlier codes stay valid; cool-down applies)."""
    sent = await signin.resend_code(deps, challenge_id, body.verification_id, client_ip=context.ip)
    return schemas.verification_out(sent, deps.config.code_policy, deps.clock.now())
