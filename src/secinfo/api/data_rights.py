"""The holder's data rights: download everything held (``GET /v1/me/export``) and close
the account (``DELETE /v1/me``), erased after the grace period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from secinfo.api.dependencies import ContextDep, DepsDep, SessionDep
from secinfo.api.schemas import Body
from secinfo.http import export_response
from secinfo.services import data_rights

router = APIRouter(prefix="/v1")


class ExportOut(BaseModel):
    """Everything held about the person. Contact values are unmasked; no secret is in it
    (no password hash, TOTP secret, recovery code, code, token or message body)."""

    format: str = Field(..., examples=["secinfo.export/1"])
    exported_at: datetime
    account: dict[str, Any]
    sign_in_names: list[dict[str, Any]]
    security_info: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    known_networks: list[dict[str, Any]]
    sign_in_challenges: list[dict[str, Any]]
    verifications: list[dict[str, Any]]
    pending_changes: list[dict[str, Any]]
    recoveries: list[dict[str, Any]]
    activity: list[dict[str, Any]]
    messages: list[dict[str, Any]] = Field(
        ..., description="Messages sent to the person: type, channel, to, times, status."
    )
    billing_profile: dict[str, Any] | None


class CloseAccountRequest(Body):
    password: str = Field(..., description="The account's current password.")


class ClosureOut(BaseModel):
    account_id: str
    status: str = Field("closed", examples=["closed"])
    closed_at: datetime
    erase_at: datetime = Field(
        ..., description="When the personal data is erased; signing in before cancels it."
    )


# Descriptions only: the one error schema is added by ``api.openapi``.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in (unauthenticated)."},
    403: {"description": "No recent step-up (step_up_required)."},
}


@router.get(
    "/me/export",
    tags=["me"],
    response_model=ExportOut,
    responses={200: {"description": "A JSON file (attachment)."}, **ERRORS},
)
async def export(session: SessionDep, deps: DepsDep, context: ContextDep) -> JSONResponse:
    """Download everything held about you (GDPR art. 15 and 20). Needs a recent
    step-up; your contacts are told that a copy was downloaded."""
    return export_response(await data_rights.export_mine(deps, session, context))


@router.delete(
    "/me",
    status_code=202,
    tags=["me"],
    responses={
        **ERRORS,
        401: {"description": "Not signed in, or the password is wrong (invalid_credentials)."},
        409: {"description": "The account is already closed (account_closed)."},
    },
)
async def close_account(
    body: CloseAccountRequest, session: SessionDep, deps: DepsDep, context: ContextDep
) -> ClosureOut:
    """Close your account (GDPR art. 17). Needs a recent step-up and the password. Every
    session ends and your contacts are told; after the grace period your personal data
    is erased. Signing in before then cancels the closure."""
    closure = await data_rights.close_mine(deps, session, body.password, context)
    return ClosureOut(
        account_id=closure.account_id, closed_at=closure.closed_at, erase_at=closure.erase_at
    )
