"""Pages reached without a session: forgot password (recovery), and the page a
pending-change notice links to (cancel with a code, or "this wasn't me")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from secinfo.domain.errors import DomainError, InvalidInput
from secinfo.domain.model import InfoKind
from secinfo.http import client_ip, get_deps, request_context
from secinfo.services import pending_changes, recovery
from secinfo.web.i18n import Translator, translator
from secinfo.web.pages import (
    Form,
    code_context,
    error_status,
    field,
    fresh_send_context,
    raw_field,
    render,
    resend_and_show,
    resend_refused_context,
    signed_out,
)

router = APIRouter(include_in_schema=False)

HELD_FORM_KINDS = {"authenticator": InfoKind.AUTHENTICATOR, "recovery_code": InfoKind.RECOVERY_CODE}


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


def _recovery_code_page(t: Translator, recovery_id: str, verification_id: str) -> dict[str, Any]:
    return {
        "title": t._("Enter the code"),
        "lead": t._("If that is the contact on file, we sent a code to it."),
        "action": f"/forgot-password/{recovery_id}/verify",
        "resend_action": f"/forgot-password/{recovery_id}/resend",
        "hidden": {"verification_id": verification_id},
        "other_way": ("/forgot-password", t._("Start again")),
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
        **_recovery_code_page(translator(request), recovery_id, answer.verification_id),
        **fresh_send_context(request),
    )


@router.post("/forgot-password/{recovery_id}/resend")
async def recovery_resend(request: Request, recovery_id: str, form: Form) -> Response:
    """I didn't get a code: the page, like the service, is the same whether or not a code
    went out (the cool-down follows from the policy, not from the verification)."""
    verification_id = field(form, "verification_id")
    try:
        answer = await recovery.resend_code(
            get_deps(request), recovery_id, verification_id, client_ip=client_ip(request)
        )
    except DomainError as error:
        return await render(
            request,
            "code.html",
            error=error,
            status=error_status(error),
            **_recovery_code_page(translator(request), recovery_id, verification_id),
            **resend_refused_context(request, error),
        )
    return await render(
        request,
        "code.html",
        resent=True,
        resent_text=translator(request)._(
            "If that is the contact on file, we sent a new code to it."
        ),
        **_recovery_code_page(translator(request), recovery_id, answer.verification_id),
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
            **_recovery_code_page(translator(request), recovery_id, verification_id),
            **code_context(request, None),
        )
    if state.proofs_left:
        return await _recovery_contacts(request, state, another=True)
    return await render(request, "recovery_password.html", recovery_id=recovery_id)


@router.post("/forgot-password/{recovery_id}/held")
async def recovery_held(request: Request, recovery_id: str, form: Form) -> Response:
    """A code from the authenticator app, or the recovery code, as one proof. Offered on
    every recovery page (unknown names too), like the API's ``{kind, code}``."""
    deps = get_deps(request)
    try:
        kind = HELD_FORM_KINDS.get(field(form, "kind"))
        if kind is None:
            raise InvalidInput("Choose a code from your authenticator app or your recovery code.")
        held = await recovery.verify_held(
            deps, recovery_id, kind, field(form, "code"), request_context(request)
        )
    except DomainError as error:
        try:
            state = await recovery.view(deps, recovery_id)
        except DomainError as ended:
            return await render(
                request, "recovery_start.html", error=ended, status=error_status(ended), values={}
            )
        return await _recovery_contacts(request, state, status=error_status(error), error=error)
    if held.new_recovery_code:
        return await render(
            request,
            "recovery_code.html",
            replaced=True,
            code=held.new_recovery_code,
            next=f"/forgot-password/{recovery_id}",
        )
    if held.recovery.proofs_left:
        return await _recovery_contacts(request, held.recovery, another=True)
    return await render(request, "recovery_password.html", recovery_id=recovery_id)


@router.get("/forgot-password/{recovery_id}")
async def recovery_continue(request: Request, recovery_id: str) -> Response:
    """Where a passkey proof goes on: another proof (2-step on), or the new password."""
    try:
        state = await recovery.view(get_deps(request), recovery_id)
    except DomainError as error:
        return await render(
            request, "recovery_start.html", error=error, status=error_status(error), values={}
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
            request,
            "message.html",
            title=translator(request)._("Nothing to cancel"),
            error=error,
            status=404,
        )
    return await render(request, "change_notice.html", view=view, status=status, **context)


@router.get("/pending-changes/{change_id}")
async def change_notice(request: Request, change_id: str) -> Response:
    return await _notice_page(request, change_id)


def _cancel_code_page(t: Translator, change_id: str, verification_id: str) -> dict[str, Any]:
    return {
        "title": t._("Enter the code to cancel the change"),
        "lead": t._("Type it here to cancel the request."),
        "action": f"/pending-changes/{change_id}/cancel",
        "resend_action": f"/pending-changes/{change_id}/cancel/resend",
        "hidden": {"verification_id": verification_id},
        "not_me_choice": True,
        "other_way": (f"/pending-changes/{change_id}", t._("Choose another contact")),
    }


@router.post("/pending-changes/{change_id}/send")
async def change_notice_send(request: Request, change_id: str, form: Form) -> Response:
    try:
        sent = await pending_changes.start_cancel_code(
            get_deps(request),
            change_id,
            field(form, "security_info_id"),
            client_ip=client_ip(request),
        )
    except DomainError as error:
        return await _notice_page(request, change_id, error_status(error), error=error)
    return await render(
        request,
        "code.html",
        **_cancel_code_page(translator(request), change_id, sent.id),
        **code_context(request, sent),
    )


@router.post("/pending-changes/{change_id}/cancel/resend")
async def change_notice_resend(request: Request, change_id: str, form: Form) -> Response:
    verification_id = field(form, "verification_id")

    async def show(**context: Any) -> Response:
        return await render(
            request,
            "code.html",
            **_cancel_code_page(translator(request), change_id, verification_id),
            **context,
        )

    return await resend_and_show(
        request,
        lambda: pending_changes.resend_cancel_code(
            get_deps(request), change_id, verification_id, client_ip=client_ip(request)
        ),
        show,
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
            **_cancel_code_page(translator(request), change_id, verification_id),
            **code_context(request, None),
        )
    if not_me:
        return signed_out(request, "/sign-in?notice=secured")
    return await render(
        request,
        "message.html",
        title=translator(request)._("The change is canceled"),
        text=translator(request)._(
            "Your security info is as it was before the request. We told all your contacts."
        ),
        link=("/sign-in", translator(request)._("Sign in")),
    )
