"""Sign up, sign in, sessions, step-up and the holder's own security info."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from secinfo.api import schemas
from secinfo.api.dependencies import ContextDep, DepsDep, SessionDep
from secinfo.domain.errors import InvalidInput
from secinfo.domain.model import InfoKind
from secinfo.services import (
    accounts,
    activity,
    authenticators,
    security_info,
    step_up,
    verification,
)
from secinfo.services.accounts import NewSession

router = APIRouter(prefix="/v1")


def session_out(new_session: NewSession) -> schemas.SessionOut:
    return schemas.SessionOut(
        token=new_session.token,
        session_id=new_session.session.id,
        account_id=new_session.session.account_id,
        expires_at=new_session.session.expires_at,
        device_token=new_session.device_token,
        closure_canceled=new_session.closure_canceled,
    )


@router.post("/accounts", status_code=202, tags=["accounts"])
async def sign_up(
    body: schemas.SignUpRequest, deps: DepsDep, context: ContextDep
) -> dict[str, object]:
    """Start a sign-up. A code goes to the sign-in name; confirm it to open the account."""
    started = await accounts.sign_up(deps, body.sign_in_name, body.password, context)
    return {
        "verification_id": started.verification_id,
        "channel": started.channel,
        "to": started.to,
        "expires_at": started.expires_at,
        "next": "POST /v1/accounts/confirm with the verification_id and the code",
    }


@router.post("/accounts/confirm", status_code=201, tags=["accounts"])
async def confirm_sign_up(
    body: schemas.ConfirmRequest, deps: DepsDep, context: ContextDep
) -> schemas.SessionOut:
    return session_out(
        await accounts.confirm_sign_up(deps, body.verification_id, body.code, context)
    )


@router.post("/accounts/resend", status_code=202, tags=["accounts"])
async def resend_sign_up(
    body: schemas.ResendRequest, deps: DepsDep, context: ContextDep
) -> dict[str, object]:
    sent = await accounts.resend_sign_up_code(deps, body.verification_id, client_ip=context.ip)
    policy = deps.config.code_policy
    return {
        "verification_id": sent.id,
        "send_attempts": sent.send_attempts,
        "expires_at": sent.expires_at,
        "resend_available_at": sent.resend_available_at(policy),
    }


@router.delete("/sessions/current", status_code=204, tags=["sessions"])
async def sign_out(session: SessionDep, deps: DepsDep, context: ContextDep) -> Response:
    await accounts.sign_out(deps, session, context)
    return Response(status_code=204)


@router.post("/me/sessions/revoke", tags=["sessions"])
async def sign_out_everywhere(
    session: SessionDep, deps: DepsDep, context: ContextDep
) -> dict[str, int]:
    """Sign out everywhere, this session included."""
    return {"revoked": await accounts.sign_out_everywhere(deps, session, context)}


@router.get("/me", tags=["me"])
async def me(session: SessionDep, deps: DepsDep) -> schemas.MeOut:
    items = await security_info.list_info(deps, session.account_id)
    return schemas.MeOut(
        account_id=session.account_id,
        session_id=session.id,
        privileged_until=session.privileged_until
        if session.is_privileged(deps.clock.now())
        else None,
        security_info=[schemas.security_info_out(item) for item in items],
    )


@router.post("/me/password", status_code=204, tags=["me"])
async def change_password(
    body: schemas.PasswordChangeRequest, session: SessionDep, deps: DepsDep, context: ContextDep
) -> Response:
    await accounts.change_password(deps, session, body.current_password, body.new_password, context)
    return Response(status_code=204)


@router.post(
    "/me/step-up",
    status_code=201,
    tags=["step-up"],
    responses={
        201: {
            "description": "For an email or phone, the verification of the code sent to it; "
            "with an authenticator or the recovery code and its code, "
            "{privileged_until} (and new_recovery_code when the recovery code was used)."
        }
    },
)
async def start_step_up(
    body: schemas.StepUpRequest, session: SessionDep, deps: DepsDep, context: ContextDep
) -> JSONResponse:
    if body.code is not None:
        held = await step_up.check_held(deps, session, body.security_info_id, body.code, context)
        answer: dict[str, object] = {"privileged_until": held.privileged_until.isoformat()}
        if held.new_recovery_code:
            answer["new_recovery_code"] = held.new_recovery_code
        return JSONResponse(answer, status_code=201)
    started = await step_up.start(deps, session, body.security_info_id, client_ip=context.ip)
    out = schemas.verification_out(started, deps.config.code_policy, deps.clock.now())
    return JSONResponse(out.model_dump(mode="json"), status_code=201)


@router.post("/me/step-up/{verification_id}/check", tags=["step-up"])
async def check_step_up(
    verification_id: str,
    body: schemas.CodeRequest,
    session: SessionDep,
    deps: DepsDep,
    context: ContextDep,
) -> schemas.StepUpOut:
    until = await step_up.check(deps, session, verification_id, body.code, context)
    return schemas.StepUpOut(privileged_until=until)


@router.post("/me/verifications/{verification_id}/resend", tags=["step-up"])
async def resend_code(
    verification_id: str, session: SessionDep, deps: DepsDep, context: ContextDep
) -> schemas.VerificationOut:
    """I didn't get a code: send a new one (earlier codes stay valid)."""
    sent = await verification.resend_for_holder(
        deps, session.account_id, verification_id, client_ip=context.ip
    )
    return schemas.verification_out(sent, deps.config.code_policy, deps.clock.now())


@router.get("/me/security-info", tags=["security info"])
async def list_security_info(session: SessionDep, deps: DepsDep) -> schemas.SecurityInfoList:
    items = await security_info.list_info(deps, session.account_id)
    return schemas.SecurityInfoList(items=[schemas.security_info_out(item) for item in items])


@router.post(
    "/me/security-info",
    status_code=201,
    tags=["security info"],
    response_model=schemas.AddStartedOut | schemas.AuthenticatorAddedOut | schemas.RecoveryCodeOut,
)
async def add_security_info(
    body: schemas.AddSecurityInfoRequest, session: SessionDep, deps: DepsDep, context: ContextDep
) -> schemas.AddStartedOut | schemas.AuthenticatorAddedOut | schemas.RecoveryCodeOut:
    """Email or phone: a code goes to it (verify with its verification_id). Authenticator:
    the secret and otpauth URI, shown in this answer only (verify with a code from the
    app). Recovery code: active at once, the code shown in this answer only."""
    kind = InfoKind(body.kind)
    if kind is InfoKind.AUTHENTICATOR:
        enrollment = await authenticators.add_authenticator(deps, session, body.label, context)
        return schemas.AuthenticatorAddedOut(
            item=schemas.security_info_out(enrollment.item),
            enrollment=schemas.EnrollmentOut(
                secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri
            ),
        )
    if kind is InfoKind.RECOVERY_CODE:
        issued = await authenticators.issue_recovery_code(deps, session, context)
        return schemas.RecoveryCodeOut(
            item=schemas.security_info_out(issued.item), recovery_code=issued.code
        )
    if body.value is None:
        raise InvalidInput("Send the email address or phone number as 'value'.")
    started = await security_info.add(deps, session, kind, body.value, body.label, context)
    return schemas.AddStartedOut(
        item=schemas.security_info_out(started.item),
        verification=schemas.verification_out(
            started.verification, deps.config.code_policy, deps.clock.now()
        ),
    )


@router.post("/me/security-info/{item_id}/verify", tags=["security info"])
async def verify_security_info(
    item_id: str,
    body: schemas.VerifySecurityInfoRequest,
    session: SessionDep,
    deps: DepsDep,
    context: ContextDep,
) -> schemas.SecurityInfoOut:
    if body.verification_id is None:
        item = await authenticators.activate_authenticator(
            deps, session, item_id, body.code, context
        )
    else:
        item = await security_info.confirm_add(
            deps, session, item_id, body.verification_id, body.code, context
        )
    return schemas.security_info_out(item)


@router.patch("/me/security-info/{item_id}", tags=["security info"])
async def update_security_info(
    item_id: str,
    body: schemas.UpdateSecurityInfoRequest,
    session: SessionDep,
    deps: DepsDep,
    context: ContextDep,
) -> schemas.SecurityInfoOut:
    item = await security_info.update_label(deps, session, item_id, body.label, context)
    return schemas.security_info_out(item)


@router.delete(
    "/me/security-info/{item_id}",
    tags=["security info"],
    responses={202: {"description": "The last contact: removal waits 30 days."}},
)
async def remove_security_info(
    item_id: str, session: SessionDep, deps: DepsDep, context: ContextDep
) -> JSONResponse:
    """Remove at once, or (for the last info that can receive codes) after 30 days."""
    removal = await security_info.remove(deps, session, item_id, context)
    if removal.pending_change is not None:
        return JSONResponse(
            {
                "item": schemas.security_info_out(removal.item).model_dump(mode="json"),
                "pending_change": schemas.pending_change_out(removal.pending_change).model_dump(
                    mode="json"
                ),
            },
            status_code=202,
        )
    return JSONResponse(schemas.security_info_out(removal.item).model_dump(mode="json"))


@router.put("/me/security-info/{item_id}/sign-in", tags=["security info"])
async def set_sign_in_option(
    item_id: str,
    body: schemas.SignInOptionRequest,
    session: SessionDep,
    deps: DepsDep,
    context: ContextDep,
) -> schemas.SecurityInfoOut:
    item = await security_info.set_sign_in(deps, session, item_id, body.enabled, context)
    return schemas.security_info_out(item)


@router.get("/me/activity", tags=["me"])
async def recent_activity(
    session: SessionDep,
    deps: DepsDep,
    limit: int = Query(50, ge=1, le=200),
    before: str | None = Query(None, max_length=64, description="Event id: the page after it."),
) -> schemas.ActivityPage:
    events = await activity.recent(deps, session.account_id, limit, before)
    return schemas.ActivityPage(
        events=[schemas.activity_out(event) for event in events],
        next_before=events[-1].id if len(events) == limit else None,
    )
