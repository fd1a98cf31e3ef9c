"""Waiting periods: remove all, "I don't have any of these", cancel, 2-step, not me."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from secinfo.api import schemas
from secinfo.api.dependencies import ContextDep, DepsDep, SessionDep
from secinfo.domain.errors import NoPendingChange
from secinfo.domain.model import InfoKind
from secinfo.services import account_security, pending_changes, replace_info, security_info

router = APIRouter(prefix="/v1", tags=["waiting periods"])


class ReplaceRequest(schemas.Body):
    kind: Literal["email", "phone"]
    value: str = Field(..., max_length=320)
    label: str | None = Field(None, max_length=200)


class CancelSend(schemas.Body):
    security_info_id: str = Field(..., max_length=64)


class CancelRequest(schemas.Body):
    verification_id: str = Field(..., max_length=64)
    code: str = Field(..., max_length=32)
    not_me: bool = Field(False, description="'This wasn't me': also secure the account.")


class TwoStepRequest(schemas.Body):
    enabled: bool


class ChangeViewOut(BaseModel):
    change: schemas.PendingChangeOut
    contacts: list[schemas.ContactOption]


@router.post("/me/security-info/remove-all", status_code=202)
async def remove_all(
    session: SessionDep, deps: DepsDep, context: ContextDep
) -> schemas.PendingChangeOut:
    """Held 30 days; every current contact is told and can cancel."""
    change = await security_info.remove_all(deps, session, context)
    return schemas.pending_change_out(change)


@router.post("/me/security-info/replace", status_code=201)
async def start_replacement(
    body: ReplaceRequest, session: SessionDep, deps: DepsDep, context: ContextDep
) -> schemas.AddStartedOut:
    """I don't have any of these: a code goes to the new contact (no step-up needed)."""
    started = await replace_info.start(
        deps, session, InfoKind(body.kind), body.value, body.label, context
    )
    return schemas.AddStartedOut(
        item=schemas.security_info_out(started.item),
        verification=schemas.verification_out(
            started.verification, deps.config.code_policy, deps.clock.now()
        ),
    )


@router.post(
    "/me/security-info/replace/confirm",
    status_code=202,
    responses={200: {"description": "No old info to protect: the new info is active now."}},
)
async def confirm_replacement(
    body: schemas.ConfirmRequest, session: SessionDep, deps: DepsDep, context: ContextDep
) -> JSONResponse:
    change = await replace_info.confirm(deps, session, body.verification_id, body.code, context)
    if change is None:
        return JSONResponse({"pending_change": None}, status_code=200)
    return JSONResponse(
        {"pending_change": schemas.pending_change_out(change).model_dump(mode="json")},
        status_code=202,
    )


@router.get(
    "/me/pending-change",
    responses={409: {"description": "No change is waiting (`no_pending_change`)."}},
)
async def current_pending_change(session: SessionDep, deps: DepsDep) -> schemas.PendingChangeOut:
    change = await pending_changes.current(deps, session.account_id)
    if change is None:
        raise NoPendingChange()
    return schemas.pending_change_out(change)


@router.delete("/me/pending-change")
async def cancel_pending_change(
    session: SessionDep, deps: DepsDep, context: ContextDep
) -> schemas.PendingChangeOut:
    """Cancel from a stepped-up session."""
    return schemas.pending_change_out(
        await pending_changes.cancel_with_session(deps, session, context)
    )


@router.get("/pending-changes/{change_id}")
async def view_pending_change(change_id: str, deps: DepsDep) -> ChangeViewOut:
    """What a notice's link opens: the change and the old contacts a code can go to."""
    view = await pending_changes.view(deps, change_id)
    return ChangeViewOut(
        change=schemas.pending_change_out(view.change),
        contacts=[schemas.contact_option(item) for item in view.old_contacts],
    )


@router.post("/pending-changes/{change_id}/cancel/send", status_code=201)
async def send_cancel_code(
    change_id: str, body: CancelSend, deps: DepsDep, context: ContextDep
) -> schemas.VerificationOut:
    sent = await pending_changes.start_cancel_code(
        deps, change_id, body.security_info_id, client_ip=context.ip
    )
    return schemas.verification_out(sent, deps.config.code_policy, deps.clock.now())


@router.post("/pending-changes/{change_id}/cancel/resend")
async def resend_cancel_code(
    change_id: str, body: schemas.ResendRequest, deps: DepsDep, context: ContextDep
) -> schemas.VerificationOut:
    sent = await pending_changes.resend_cancel_code(
        deps, change_id, body.verification_id, client_ip=context.ip
    )
    return schemas.verification_out(sent, deps.config.code_policy, deps.clock.now())


@router.post("/pending-changes/{change_id}/cancel")
async def cancel_with_code(
    change_id: str, body: CancelRequest, deps: DepsDep, context: ContextDep
) -> schemas.PendingChangeOut:
    change = await pending_changes.cancel_with_code(
        deps, change_id, body.verification_id, body.code, context, not_me=body.not_me
    )
    return schemas.pending_change_out(change)


@router.put("/me/two-step", tags=["me"])
async def set_two_step(
    body: TwoStepRequest, session: SessionDep, deps: DepsDep, context: ContextDep
) -> dict[str, bool]:
    """2-step verification: every sign-in then needs a code too (step-up required)."""
    enabled = await account_security.set_two_step(deps, session, body.enabled, context)
    return {"enabled": enabled}


@router.post("/me/activity/{event_id}/not-me", tags=["me"])
async def this_was_not_me(
    event_id: str, session: SessionDep, deps: DepsDep, context: ContextDep
) -> dict[str, int]:
    """Secure the account: every session ends; the next sign-in needs a password reset."""
    revoked = await account_security.report_not_me(deps, session, event_id, context)
    return {"revoked_sessions": revoked}
