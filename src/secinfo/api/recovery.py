"""Recovery ("forgot password") and the integrators' billing profile."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from secinfo.api import passkeys as passkey_api
from secinfo.api import schemas
from secinfo.api.dependencies import ApiKeyDep, ContextDep, DepsDep
from secinfo.domain.errors import InvalidInput
from secinfo.domain.model import InfoKind
from secinfo.services import billing, recovery

router = APIRouter(prefix="/v1")


class RecoveryStart(schemas.Body):
    sign_in_name: str = Field(..., max_length=320)


class RecoveryContactOut(BaseModel):
    contact_id: str
    channel: str
    to: str = Field(..., description="Masked: type the full contact back to get a code.")


class RecoveryOut(BaseModel):
    recovery_id: str
    contacts: list[RecoveryContactOut]
    other_proofs: list[str] = Field(
        default_factory=lambda: ["authenticator", "recovery_code"],
        description="Offered for every recovery: verify with {kind, code}.",
    )
    expires_at: datetime


class RecoverySend(schemas.Body):
    contact_id: str = Field(..., max_length=64)
    contact: str = Field(..., max_length=320, description="The full email or phone number.")


class RecoveryReset(schemas.Body):
    new_password: str


class BillingProfile(BaseModel):
    profile: dict[str, Any]
    updated_at: datetime | None = None


@router.post("/recovery", status_code=202, tags=["recovery"])
async def start_recovery(body: RecoveryStart, deps: DepsDep, context: ContextDep) -> RecoveryOut:
    """The same answer whether or not the account exists."""
    started = await recovery.start(deps, body.sign_in_name, context)
    return RecoveryOut(
        recovery_id=started.id,
        contacts=[
            RecoveryContactOut(contact_id=entry.id, channel=entry.channel.value, to=entry.masked)
            for entry in started.contacts
        ],
        expires_at=started.expires_at,
    )


@router.post("/recovery/{recovery_id}/send", status_code=202, tags=["recovery"])
async def send_recovery_code(
    recovery_id: str, body: RecoverySend, deps: DepsDep, context: ContextDep
) -> dict[str, str]:
    """If the contact matches, a code is on its way; the answer is the same either way."""
    answer = await recovery.send_code(deps, recovery_id, body.contact_id, body.contact, context)
    return {"verification_id": answer.verification_id}


@router.post("/recovery/{recovery_id}/resend", status_code=202, tags=["recovery"])
async def resend_recovery_code(
    recovery_id: str, body: schemas.ResendRequest, deps: DepsDep, context: ContextDep
) -> dict[str, str]:
    """I didn't get a code: the same answer whether or not one goes out."""
    answer = await recovery.resend_code(
        deps, recovery_id, body.verification_id, client_ip=context.ip
    )
    return {"verification_id": answer.verification_id}


class RecoveryVerify(schemas.Body):
    verification_id: str | None = Field(None, max_length=64)
    kind: Literal["authenticator", "recovery_code"] | None = Field(
        None,
        description="Instead of a sent code: a code from your authenticator app, or your "
        "recovery code. Offered for every recovery.",
    )
    code: str = Field(..., max_length=40)


@router.post("/recovery/{recovery_id}/verify", tags=["recovery"])
async def verify_recovery_code(
    recovery_id: str, body: RecoveryVerify, deps: DepsDep, context: ContextDep
) -> dict[str, object]:
    """With 2-step verification on, two proofs from two different items are needed. A
    used recovery code comes back replaced (``new_recovery_code``, shown once)."""
    if body.kind is not None:
        held = await recovery.verify_held(
            deps, recovery_id, InfoKind(body.kind), body.code, context
        )
        answer: dict[str, object] = {"proofs_left": held.recovery.proofs_left}
        if held.new_recovery_code:
            answer["new_recovery_code"] = held.new_recovery_code
        return answer
    if body.verification_id is None:
        raise InvalidInput("Send the verification_id of the code sent, or a kind.")
    state = await recovery.verify(deps, recovery_id, body.verification_id, body.code)
    return {"proofs_left": state.proofs_left}


@router.post("/recovery/{recovery_id}/passkey/options", tags=["recovery", "passkeys"])
async def recovery_passkey_options(
    recovery_id: str, deps: DepsDep
) -> passkey_api.AuthenticationOptionsOut:
    """A passkey counts as one proof: options for ``navigator.credentials.get``
    (discoverable, the same for every recovery)."""
    options = await recovery.passkey_options(deps, recovery_id)
    return passkey_api.AuthenticationOptionsOut(
        authentication_id=options.id, options=options.options, expires_at=options.expires_at
    )


@router.post(
    "/recovery/{recovery_id}/passkey",
    tags=["recovery", "passkeys"],
    responses={400: {"description": passkey_api.REFUSALS}, 401: {"description": "passkey_unknown"}},
)
async def verify_recovery_passkey(
    recovery_id: str, body: passkey_api.AuthenticationRequest, deps: DepsDep, context: ContextDep
) -> dict[str, object]:
    state = await recovery.verify_passkey(
        deps, recovery_id, body.authentication_id, body.credential, context
    )
    return {"proofs_left": state.proofs_left}


@router.post("/recovery/{recovery_id}/reset", status_code=204, tags=["recovery"])
async def reset_password(
    recovery_id: str, body: RecoveryReset, deps: DepsDep, context: ContextDep
) -> Response:
    await recovery.reset_password(deps, recovery_id, body.new_password, context)
    return Response(status_code=204)


@router.get("/accounts/{account_id}/billing", tags=["billing"])
async def get_billing(account_id: str, _: ApiKeyDep, deps: DepsDep) -> BillingProfile:
    profile, updated_at = await billing.get(deps, account_id)
    return BillingProfile(profile=profile, updated_at=updated_at)


@router.put("/accounts/{account_id}/billing", tags=["billing"])
async def put_billing(
    account_id: str, body: BillingProfile, _: ApiKeyDep, deps: DepsDep, context: ContextDep
) -> BillingProfile:
    """Refused with ``security_info_change_pending`` while a security change waits."""
    updated_at = await billing.put(deps, account_id, body.profile, context)
    return BillingProfile(profile=body.profile, updated_at=updated_at)
