"""Pages before a session: sign up, sign in (code step, reconfirm prompt), sign out,
forgot password, and the page a pending-change notice links to."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from secinfo.domain.errors import DomainError
from secinfo.http import client_ip, get_deps, request_context
from secinfo.services import accounts, signin
from secinfo.web.i18n import N_, translator
from secinfo.web.pages import (
    Form,
    PageSession,
    chose_language,
    code_context,
    contact_kind,
    error_status,
    field,
    optional_session,
    raw_field,
    redirect,
    render,
    resend_and_show,
    safe_next,
    signed_in,
    signed_out,
)

router = APIRouter(include_in_schema=False)

REASONS = {
    "unusual_sign_in": N_(
        "This sign-in looks unusual: it comes from a device and a place we haven't seen "
        "for this account. Prove it's you with a code."
    ),
    "recent_failures": N_("There were many wrong passwords recently. Prove it's you with a code."),
    "long_inactivity": N_("You haven't signed in for a long while. Prove it's you with a code."),
    "two_step": N_("2-step verification is on: enter a code as well as your password."),
    "reconfirm_security_info": N_("Make sure you can still receive codes."),
}


@router.get("/")
async def home(request: Request) -> Response:
    return redirect("/security" if await optional_session(request) else "/sign-in")


@router.get("/language")
async def choose_language(request: Request) -> Response:
    """The footer's language switch: ``?lang=de&next=/security``."""
    params = request.query_params
    return chose_language(request, params.get("lang", ""), params.get("next", "/"))


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
    request: Request, verification_id: str, sent_to: str, **context: Any
) -> Response:
    context.setdefault("to", sent_to)
    t = translator(request)
    return await render(
        request,
        "code.html",
        title=t._("Enter the code to finish signing up"),
        lead="" if context["to"] else t._("Enter the code we sent you."),
        action="/sign-up/confirm",
        resend_action="/sign-up/resend",
        hidden={"verification_id": verification_id, "to": sent_to},
        **context,
    )


@router.post("/sign-up/resend")
async def sign_up_resend(request: Request, form: Form) -> Response:
    verification_id, to = field(form, "verification_id"), field(form, "to")
    return await resend_and_show(
        request,
        lambda: accounts.resend_sign_up_code(
            get_deps(request), verification_id, client_ip=client_ip(request)
        ),
        partial(_sign_up_code, request, verification_id, to),
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
        reason_text=translator(request)._(REASONS[reason]) if reason in REASONS else "",
        **context,
    )


@router.get("/sign-in/challenge/{challenge_id}")
async def challenge_page_get(request: Request, challenge_id: str) -> Response:
    return await _challenge_page(request, challenge_id)


challenge_page = _challenge_page  # the authenticator and recovery-code forms post back here


async def _challenge_code(
    request: Request, challenge_id: str, verification_id: str, **context: Any
) -> Response:
    t = translator(request)
    return await render(
        request,
        "code.html",
        title=t._("Enter your code"),
        lead=t._("Type it here to finish signing in."),
        action=f"/sign-in/challenge/{challenge_id}/verify",
        resend_action=f"/sign-in/challenge/{challenge_id}/resend",
        hidden={"verification_id": verification_id},
        other_way=(f"/sign-in/challenge/{challenge_id}", t._("Choose another contact")),
        **context,
    )


@router.post("/sign-in/challenge/{challenge_id}/resend")
async def challenge_resend(request: Request, challenge_id: str, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    return await resend_and_show(
        request,
        lambda: signin.resend_code(
            get_deps(request), challenge_id, verification_id, client_ip=client_ip(request)
        ),
        partial(_challenge_code, request, challenge_id, verification_id),
    )


@router.post("/sign-in/challenge/{challenge_id}/send")
async def challenge_send(request: Request, challenge_id: str, form: Form) -> Response:
    try:
        sent = await signin.send_code(
            get_deps(request),
            challenge_id,
            field(form, "security_info_id"),
            client_ip=client_ip(request),
        )
    except DomainError as error:
        return await _challenge_page(request, challenge_id, error_status(error), error=error)
    return await _challenge_code(request, challenge_id, sent.id, **code_context(request, sent))


@router.post("/sign-in/challenge/{challenge_id}/add")
async def challenge_add(request: Request, challenge_id: str, form: Form) -> Response:
    try:
        sent = await signin.add_info(
            get_deps(request),
            challenge_id,
            contact_kind(form),
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
