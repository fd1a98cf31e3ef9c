"""Pages before a session: sign up, sign in (code step, reconfirm prompt), sign out,
forgot password, and the page a pending-change notice links to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from secinfo.api.dependencies import get_deps, request_context
from secinfo.domain.errors import DomainError
from secinfo.domain.model import InfoKind
from secinfo.services import accounts, pending_changes, recovery, signin
from secinfo.web.pages import (
    Form,
    PageSession,
    code_context,
    error_status,
    field,
    fresh_send_context,
    optional_session,
    raw_field,
    redirect,
    render,
    resend_refused_context,
    safe_next,
    signed_in,
    signed_out,
)

router = APIRouter(include_in_schema=False)

REASONS = {
    "unusual_sign_in": (
        "This sign-in looks unusual: it comes from a device and a place we haven't seen "
        "for this account. Prove it's you with a code."
    ),
    "recent_failures": "There were many wrong passwords recently. Prove it's you with a code.",
    "long_inactivity": "You haven't signed in for a long while. Prove it's you with a code.",
    "two_step": "2-step verification is on: enter a code as well as your password.",
    "reconfirm_security_info": "Make sure you can still receive codes.",
}


@router.get("/")
async def home(request: Request) -> Response:
    return redirect("/security" if await optional_session(request) else "/sign-in")


# -- sign up -------------------------------------------------------------------------------
@router.get("/sign-up")
async def sign_up_page(request: Request) -> Response:
    return await render(request, "sign_up.html", values={})


@router.post("/sign-up")
async def sign_up(request: Request, form: Form) -> Response:
    name, password = field(form, "sign_in_name"), raw_field(form, "password")
    try:
        started = await accounts.sign_up(
            get_deps(request), name, password, request_context(request)
        )
    except DomainError as error:
        return await render(
            request,
            "sign_up.html",
            error=error,
            status=error_status(error),
            values={"sign_in_name": name},
        )
    return await _sign_up_code(request, started.verification_id, started.to)


async def _sign_up_code(
    request: Request, verification_id: str, to: str, **context: Any
) -> Response:
    return await render(
        request,
        "code.html",
        title="Enter the code to finish signing up",
        lead=f"We sent a code to {to}." if to else "Enter the code we sent you.",
        action="/sign-up/confirm",
        resend_action="/sign-up/resend",
        hidden={"verification_id": verification_id, "to": to},
        **context,
    )


@router.post("/sign-up/resend")
async def sign_up_resend(request: Request, form: Form) -> Response:
    verification_id, to = field(form, "verification_id"), field(form, "to")
    try:
        sent = await accounts.resend_sign_up_code(get_deps(request), verification_id)
    except DomainError as error:
        return await _sign_up_code(
            request,
            verification_id,
            to,
            error=error,
            status=error_status(error),
            **resend_refused_context(request, error),
        )
    return await _sign_up_code(
        request, verification_id, to, resent=True, **code_context(request, sent)
    )


@router.post("/sign-up/confirm")
async def sign_up_confirm(request: Request, form: Form) -> Response:
    verification_id, to = field(form, "verification_id"), field(form, "to")
    try:
        new_session = await accounts.confirm_sign_up(
            get_deps(request), verification_id, field(form, "code"), request_context(request)
        )
    except DomainError as error:
        return await _sign_up_code(
            request, verification_id, to, error=error, status=error_status(error)
        )
    return signed_in(request, new_session, "/security?welcome=1")


# -- sign in -------------------------------------------------------------------------------
@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return await render(
        request, "sign_in.html", next=safe_next(request.query_params.get("next")), values={}
    )


@router.post("/sign-in")
async def sign_in(request: Request, form: Form) -> Response:
    name, next_path = field(form, "sign_in_name"), safe_next(field(form, "next"))
    try:
        result = await signin.sign_in(
            get_deps(request), name, raw_field(form, "password"), request_context(request)
        )
    except DomainError as error:
        return await render(
            request,
            "sign_in.html",
            error=error,
            status=error_status(error),
            next=next_path,
            values={"sign_in_name": name},
        )
    if result.session is not None:
        return signed_in(request, result.session, next_path)
    assert result.challenge is not None
    return redirect(f"/sign-in/challenge/{result.challenge.challenge.id}")


async def _challenge_page(
    request: Request, challenge_id: str, status: int = 200, **context: Any
) -> Response:
    try:
        view = await signin.view_challenge(get_deps(request), challenge_id)
    except DomainError as error:
        return await render(
            request, "sign_in.html", error=error, status=error_status(error), values={}, next=""
        )
    reason = view.challenge.reason.value
    return await render(
        request,
        "challenge.html",
        status=status,
        view=view,
        reason=reason,
        reason_text=REASONS.get(reason, ""),
        **context,
    )


@router.get("/sign-in/challenge/{challenge_id}")
async def challenge_page(request: Request, challenge_id: str) -> Response:
    return await _challenge_page(request, challenge_id)


async def _challenge_code(
    request: Request, challenge_id: str, verification_id: str, **context: Any
) -> Response:
    return await render(
        request,
        "code.html",
        title="Enter your code",
        lead="We sent a code to the contact you chose.",
        action=f"/sign-in/challenge/{challenge_id}/verify",
        resend_action=f"/sign-in/challenge/{challenge_id}/resend",
        hidden={"verification_id": verification_id},
        other_way=(f"/sign-in/challenge/{challenge_id}", "Choose another contact"),
        **context,
    )


@router.post("/sign-in/challenge/{challenge_id}/resend")
async def challenge_resend(request: Request, challenge_id: str, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    try:
        sent = await signin.resend_code(get_deps(request), challenge_id, verification_id)
    except DomainError as error:
        return await _challenge_code(
            request,
            challenge_id,
            verification_id,
            error=error,
            status=error_status(error),
            **resend_refused_context(request, error),
        )
    return await _challenge_code(
        request, challenge_id, verification_id, resent=True, **code_context(request, sent)
    )


@router.post("/sign-in/challenge/{challenge_id}/send")
async def challenge_send(request: Request, challenge_id: str, form: Form) -> Response:
    try:
        sent = await signin.send_code(
            get_deps(request), challenge_id, field(form, "security_info_id")
        )
    except DomainError as error:
        return await _challenge_page(request, challenge_id, error_status(error), error=error)
    return await _challenge_code(request, challenge_id, sent.id, **code_context(request, sent))


@router.post("/sign-in/challenge/{challenge_id}/add")
async def challenge_add(request: Request, challenge_id: str, form: Form) -> Response:
    kind = field(form, "kind")
    try:
        sent = await signin.add_info(
            get_deps(request),
            challenge_id,
            InfoKind(kind) if kind in ("email", "phone") else InfoKind.EMAIL,
            field(form, "value"),
            request_context(request),
        )
    except DomainError as error:
        return await _challenge_page(
            request, challenge_id, error_status(error), error=error, add_value=field(form, "value")
        )
    return await _challenge_code(request, challenge_id, sent.id, **code_context(request, sent))


@router.post("/sign-in/challenge/{challenge_id}/verify")
async def challenge_verify(request: Request, challenge_id: str, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    try:
        new_session = await signin.verify_code(
            get_deps(request),
            challenge_id,
            verification_id,
            field(form, "code"),
            request_context(request),
        )
    except DomainError as error:
        return await _challenge_code(
            request,
            challenge_id,
            verification_id,
            error=error,
            status=error_status(error),
            **code_context(request, None),
        )
    return signed_in(request, new_session, "/security")


@router.post("/sign-in/challenge/{challenge_id}/skip")
async def challenge_skip(request: Request, challenge_id: str, form: Form) -> Response:
    try:
        new_session = await signin.skip_reconfirm(
            get_deps(request), challenge_id, request_context(request)
        )
    except DomainError as error:
        return await _challenge_page(request, challenge_id, error_status(error), error=error)
    return signed_in(request, new_session, "/security")


@router.post("/sign-out")
async def sign_out(request: Request, session: PageSession, form: Form) -> Response:
    await accounts.sign_out(get_deps(request), session, request_context(request))
    return signed_out(request, "/sign-in?notice=signed_out")


# -- forgot password (recovery) ------------------------------------------------------------
@router.get("/forgot-password")
async def recovery_page(request: Request) -> Response:
    return await render(request, "recovery_start.html", values={})


async def _recovery_contacts(
    request: Request, started: Any, status: int = 200, **context: Any
) -> Response:
    return await render(
        request, "recovery_contacts.html", recovery=started, status=status, **context
    )


@router.post("/forgot-password")
async def recovery_start(request: Request, form: Form) -> Response:
    name = field(form, "sign_in_name")
    try:
        started = await recovery.start(get_deps(request), name, request_context(request))
    except DomainError as error:
        return await render(
            request,
            "recovery_start.html",
            error=error,
            status=error_status(error),
            values={"sign_in_name": name},
        )
    return await _recovery_contacts(request, started)


def _recovery_code_page(recovery_id: str, verification_id: str) -> dict[str, Any]:
    return {
        "title": "Enter the code",
        "lead": "If that is the contact on file, we sent a code to it.",
        "action": f"/forgot-password/{recovery_id}/verify",
        "resend_action": f"/forgot-password/{recovery_id}/resend",
        "hidden": {"verification_id": verification_id},
        "other_way": ("/forgot-password", "Start again"),
    }


@router.post("/forgot-password/{recovery_id}/send")
async def recovery_send(request: Request, recovery_id: str, form: Form) -> Response:
    try:
        answer = await recovery.send_code(
            get_deps(request),
            recovery_id,
            field(form, "contact_id"),
            field(form, "contact"),
            request_context(request),
        )
    except DomainError as error:
        return await render(
            request, "recovery_start.html", error=error, status=error_status(error), values={}
        )
    return await render(
        request,
        "code.html",
        **_recovery_code_page(recovery_id, answer.verification_id),
        **fresh_send_context(request),
    )


@router.post("/forgot-password/{recovery_id}/resend")
async def recovery_resend(request: Request, recovery_id: str, form: Form) -> Response:
    """I didn't get a code: the page, like the service, is the same whether or not a code
    went out (the cool-down follows from the policy, not from the verification)."""
    verification_id = field(form, "verification_id")
    try:
        answer = await recovery.resend_code(get_deps(request), recovery_id, verification_id)
    except DomainError as error:
        return await render(
            request,
            "code.html",
            error=error,
            status=error_status(error),
            **_recovery_code_page(recovery_id, verification_id),
            **resend_refused_context(request, error),
        )
    return await render(
        request,
        "code.html",
        resent=True,
        resent_text="If that is the contact on file, we sent a new code to it.",
        **_recovery_code_page(recovery_id, answer.verification_id),
        **fresh_send_context(request),
    )


@router.post("/forgot-password/{recovery_id}/verify")
async def recovery_verify(request: Request, recovery_id: str, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    try:
        state = await recovery.verify(
            get_deps(request), recovery_id, verification_id, field(form, "code")
        )
    except DomainError as error:
        return await render(
            request,
            "code.html",
            error=error,
            status=error_status(error),
            **_recovery_code_page(recovery_id, verification_id),
            **code_context(request, None),
        )
    if state.proofs_left:
        return await _recovery_contacts(request, state, another=True)
    return await render(request, "recovery_password.html", recovery_id=recovery_id)


@router.post("/forgot-password/{recovery_id}/reset")
async def recovery_reset(request: Request, recovery_id: str, form: Form) -> Response:
    try:
        await recovery.reset_password(
            get_deps(request),
            recovery_id,
            raw_field(form, "new_password"),
            request_context(request),
        )
    except DomainError as error:
        return await render(
            request,
            "recovery_password.html",
            error=error,
            status=error_status(error),
            recovery_id=recovery_id,
        )
    return signed_out(request, "/sign-in?notice=password_reset")


# -- the page a pending-change notice links to (no session needed) ---------------------------
async def _notice_page(
    request: Request, change_id: str, status: int = 200, **context: Any
) -> Response:
    try:
        view = await pending_changes.view(get_deps(request), change_id)
    except DomainError as error:
        return await render(
            request, "message.html", title="Nothing to cancel", error=error, status=404
        )
    return await render(request, "change_notice.html", view=view, status=status, **context)


@router.get("/pending-changes/{change_id}")
async def change_notice(request: Request, change_id: str) -> Response:
    return await _notice_page(request, change_id)


def _cancel_code_page(change_id: str, verification_id: str) -> dict[str, Any]:
    return {
        "title": "Enter the code to cancel the change",
        "lead": "We sent a code to the contact you chose.",
        "action": f"/pending-changes/{change_id}/cancel",
        "resend_action": f"/pending-changes/{change_id}/cancel/resend",
        "hidden": {"verification_id": verification_id},
        "not_me_choice": True,
        "other_way": (f"/pending-changes/{change_id}", "Choose another contact"),
    }


@router.post("/pending-changes/{change_id}/send")
async def change_notice_send(request: Request, change_id: str, form: Form) -> Response:
    try:
        sent = await pending_changes.start_cancel_code(
            get_deps(request), change_id, field(form, "security_info_id")
        )
    except DomainError as error:
        return await _notice_page(request, change_id, error_status(error), error=error)
    return await render(
        request, "code.html", **_cancel_code_page(change_id, sent.id), **code_context(request, sent)
    )


@router.post("/pending-changes/{change_id}/cancel/resend")
async def change_notice_resend(request: Request, change_id: str, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    try:
        sent = await pending_changes.resend_cancel_code(
            get_deps(request), change_id, verification_id
        )
    except DomainError as error:
        return await render(
            request,
            "code.html",
            error=error,
            status=error_status(error),
            **_cancel_code_page(change_id, verification_id),
            **resend_refused_context(request, error),
        )
    return await render(
        request,
        "code.html",
        resent=True,
        **_cancel_code_page(change_id, verification_id),
        **code_context(request, sent),
    )


@router.post("/pending-changes/{change_id}/cancel")
async def change_notice_cancel(request: Request, change_id: str, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    not_me = field(form, "not_me") == "yes"
    try:
        await pending_changes.cancel_with_code(
            get_deps(request),
            change_id,
            verification_id,
            field(form, "code"),
            request_context(request),
            not_me=not_me,
        )
    except DomainError as error:
        return await render(
            request,
            "code.html",
            error=error,
            status=error_status(error),
            **_cancel_code_page(change_id, verification_id),
            **code_context(request, None),
        )
    if not_me:
        return signed_out(request, "/sign-in?notice=secured")
    return await render(
        request,
        "message.html",
        title="The change is canceled",
        text="Your security info is as it was before the request. We told all your contacts.",
        link=("/sign-in", "Sign in"),
    )
