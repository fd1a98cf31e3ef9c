"""Pages for authenticator apps and the recovery code: add them, and use them to step up
or to finish a sign-in step. No JavaScript: the QR code is inline SVG."""

from __future__ import annotations

import html

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response

from secinfo.domain import authenticators as totp
from secinfo.domain.errors import DomainError, StepUpRequired
from secinfo.domain.model import MAX_LABEL_LENGTH, Session
from secinfo.http import get_deps, request_context
from secinfo.services import authenticators, security_info, signin, step_up
from secinfo.web import account_pages
from secinfo.web.i18n import ENGLISH, N_, Translator, translator
from secinfo.web.pages import (
    Form,
    PageSession,
    error_status,
    field,
    is_privileged,
    redirect,
    render,
    safe_next,
    set_session_cookies,
    signed_in,
    step_up_redirect,
)

router = APIRouter(include_in_schema=False)

QR_LABEL = N_("QR code to scan with your authenticator app")


def qr_svg(uri: str, t: Translator = ENGLISH) -> str:
    """The otpauth URI as an inline SVG image with an accessible name."""
    label = t._(QR_LABEL)
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2, title=label)
    named = f'<svg role="img" aria-label="{html.escape(label, quote=True)}" '
    return str(svg).replace("<svg ", named, 1)


async def _needs_step_up(request: Request, session: Session) -> bool:
    items = await security_info.list_info(get_deps(request), session.account_id)
    return any(item.can_prove for item in items) and not is_privileged(request, session)


# -- add an authenticator app ----------------------------------------------------------------
@router.get("/security/add/authenticator")
async def authenticator_page(request: Request, session: PageSession) -> Response:
    if await _needs_step_up(request, session):
        return step_up_redirect(request.url.path)
    return await render(
        request, "authenticator.html", session=session, max_label=MAX_LABEL_LENGTH, label=""
    )


@router.post("/security/add/authenticator")
async def authenticator_start(request: Request, session: PageSession, form: Form) -> Response:
    label = field(form, "label")
    try:
        enrollment = await authenticators.add_authenticator(
            get_deps(request), session, label or None, request_context(request)
        )
    except StepUpRequired:
        return step_up_redirect("/security/add/authenticator")
    except DomainError as error:
        return await render(
            request,
            "authenticator.html",
            session=session,
            error=error,
            status=error_status(error),
            max_label=MAX_LABEL_LENGTH,
            label=label,
        )
    return await render(
        request,
        "authenticator.html",
        session=session,
        item_id=enrollment.item.id,
        qr=qr_svg(enrollment.otpauth_uri, translator(request)),
        secret=totp.grouped(enrollment.secret),
    )


@router.post("/security/add/{item_id}/authenticator")
async def authenticator_verify(
    request: Request, session: PageSession, item_id: str, form: Form
) -> Response:
    try:
        await authenticators.activate_authenticator(
            get_deps(request), session, item_id, field(form, "code"), request_context(request)
        )
    except DomainError as error:
        # The secret is shown once: after a wrong code the page asks again without it.
        return await render(
            request,
            "authenticator.html",
            session=session,
            item_id=item_id,
            error=error,
            status=error_status(error),
        )
    return redirect("/security?notice=info_added")


# -- the recovery code ---------------------------------------------------------------------------
@router.post("/security/add/recovery-code")
async def recovery_code_create(request: Request, session: PageSession, form: Form) -> Response:
    try:
        issued = await authenticators.issue_recovery_code(
            get_deps(request), session, request_context(request)
        )
    except StepUpRequired:
        return step_up_redirect("/security/add")
    except DomainError as error:
        return await render(
            request,
            "message.html",
            session=session,
            title=translator(request)._("Your recovery code"),
            error=error,
            status=error_status(error),
            link=("/security", translator(request)._("Back to Security basics")),
        )
    return await _show_code(request, session, issued.code, "/security", new=False)


async def _show_code(
    request: Request, session: Session | None, code: str, next_path: str, *, new: bool
) -> Response:
    return await render(
        request,
        "recovery_code.html",
        session=session,
        code=code,
        next=next_path,
        replaced=new,
    )


# -- using them: step-up and sign-in steps ------------------------------------------------------
@router.post("/security/verify-held")
async def step_up_held(request: Request, session: PageSession, form: Form) -> Response:
    next_path = safe_next(field(form, "next"))
    deps = get_deps(request)
    try:
        held = await step_up.check_held(
            deps,
            session,
            field(form, "security_info_id"),
            field(form, "code"),
            request_context(request),
        )
    except DomainError as error:
        items = await security_info.list_info(deps, session.account_id)
        return await render(
            request,
            "step_up.html",
            session=session,
            options=[item for item in items if item.can_receive_codes],
            held=[item for item in items if item.kind.holds_secret and item.can_prove],
            passkey=any(item.kind.signs and item.can_prove for item in items),
            next=next_path,
            error=error,
            status=error_status(error),
        )
    if held.new_recovery_code:
        return await _show_code(request, session, held.new_recovery_code, next_path, new=True)
    return redirect(next_path)


@router.post("/sign-in/challenge/{challenge_id}/held")
async def challenge_held(request: Request, challenge_id: str, form: Form) -> Response:
    try:
        held = await signin.verify_held(
            get_deps(request),
            challenge_id,
            field(form, "security_info_id"),
            field(form, "code"),
            request_context(request),
        )
    except DomainError as error:
        return await account_pages.challenge_page(
            request, challenge_id, error_status(error), error=error
        )
    if held.new_recovery_code:
        response = await _show_code(request, None, held.new_recovery_code, "/security", new=True)
        set_session_cookies(request, response, held.session)
        return response
    return signed_in(request, held.session, "/security")
