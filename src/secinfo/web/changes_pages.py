"""Recent activity with "this wasn't me", and the waiting periods: remove all,
"I don't have any of these", and cancelling a pending change from a signed-in session."""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from ua_parser import parse as parse_user_agent

from secinfo.domain.errors import DomainError, StepUpRequired
from secinfo.domain.model import Session
from secinfo.http import client_ip, get_deps, request_context
from secinfo.services import (
    account_security,
    activity,
    pending_changes,
    replace_info,
    security_info,
    verification,
)
from secinfo.web.i18n import ENGLISH, N_, Translator, translator
from secinfo.web.pages import (
    Form,
    PageSession,
    TypedContact,
    code_context,
    contact_form_again,
    error_status,
    field,
    is_privileged,
    page_rules,
    redirect,
    render,
    resend_and_show,
    signed_out,
    step_up_redirect,
)
from secinfo.web.security_pages import security_error, waiting

router = APIRouter(prefix="/security", include_in_schema=False)

EVENT_TEXT = {
    "account:created": N_("Account created"),
    "account:activated": N_("Sign-up finished"),
    "account:sign_in:success": N_("Signed in"),
    "account:sign_in:failure": N_("Sign-in with a wrong password"),
    "account:sign_in:challenged": N_("Sign-in asked for a code"),
    "account:sign_out": N_("Signed out"),
    "account:sign_out:everywhere": N_("Signed out everywhere"),
    "account:password:changed": N_("Password changed"),
    "account:step_up:success": N_("Verified with a code"),
    "account:code:sent": N_("Code sent"),
    "account:code:check_failed": N_("Wrong code entered"),
    "account:security_info:added": N_("Security info added"),
    "account:security_info:verified": N_("Security info verified"),
    "account:security_info:updated": N_("Security info label changed"),
    "account:security_info:removed": N_("Security info removed"),
    "account:security_info:reconfirmed": N_("Security info confirmed"),
    "account:security_info:reconfirm_skipped": N_("Confirming security info skipped"),
    "account:sign_in_name:enabled": N_("Sign-in name turned on"),
    "account:sign_in_name:disabled": N_("Sign-in name turned off"),
    "account:two_step:enabled": N_("2-step verification turned on"),
    "account:two_step:disabled": N_("2-step verification turned off"),
    "account:pending_change:started": N_("Security info change requested"),
    "account:pending_change:canceled": N_("Pending change canceled"),
    "account:pending_change:completed": N_("Pending change completed"),
    "account:pending_change:reminded": N_("Reminder sent about the pending change"),
    "account:recovery:started": N_("Password recovery started"),
    "account:recovery:completed": N_("Password reset"),
    "account:recovery_code:used": N_("Recovery code used (a new one was shown)"),
    "account:recovery_code:replaced": N_("New recovery code created"),
    "account:secured": N_("Account secured"),
    "account:billing:updated": N_("Billing info updated"),
    "account:data:exported": N_("Copy of your data downloaded"),
    "account:closed": N_("Account closed"),
    "account:closure:canceled": N_("Account closure canceled"),
    "account:erased": N_("Account erased"),
    "account:locked": N_("Account locked"),
    "account:unlocked": N_("Account unlocked"),
    "account:sessions_revoked": N_("Signed out everywhere"),
    "account:password_reset_required": N_("New password required"),
    "account:operator:granted": N_("Made an operator"),
    "account:operator:revoked": N_("No longer an operator"),
}


# How an event ended, in words; "success" says nothing. Failures are marked as such.
OUTCOME_TEXT = {
    "pending": N_("waiting for its code"),
    "challenged": N_("a code was asked for"),
    "wrong_password": N_("wrong password"),
    "wrong_code": N_("wrong code"),
}
FAILED_OUTCOMES = frozenset({"wrong_password", "wrong_code"})


@lru_cache(maxsize=1024)
def _device(user_agent: str) -> tuple[str | None, str | None, str]:
    """The browser, the system and the first word of a User-Agent."""
    parsed = parse_user_agent(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else None
    system = parsed.os.family if parsed.os else None
    return browser, system, user_agent.split()[0][:40]


def device_name(user_agent: str | None, t: Translator = ENGLISH) -> str:
    """``Mozilla/5.0 (Windows NT 10.0; …) Chrome/131…`` -> "Chrome on Windows"; a client
    the parser does not know keeps its first word ("my-backend/1.0")."""
    if not user_agent:
        return t._("Unknown device")
    browser, system, first_word = _device(user_agent)
    if browser and system and system != "Other":
        return t._("%(browser)s on %(system)s", browser=browser, system=system)
    if browser and browser != "Other":
        return browser
    return first_word


# -- recent activity and "this wasn't me" ----------------------------------------------------
@router.get("/activity")
async def activity_page(request: Request, session: PageSession) -> Response:
    before = request.query_params.get("before") or None
    entries = await activity.recent_entries(get_deps(request), session.account_id, 50, before)
    t = translator(request)
    return await render(
        request,
        "activity.html",
        session=session,
        entries=entries,
        event_text={tag: t._(text) for tag, text in EVENT_TEXT.items()},
        outcome_text={outcome: t._(text) for outcome, text in OUTCOME_TEXT.items()},
        failed_outcomes=FAILED_OUTCOMES,
        device_name=partial(device_name, t=t),
        next_before=entries[-1].event.id if len(entries) == 50 else None,
    )


@router.get("/activity/{event_id}/not-me")
async def not_me_page(request: Request, session: PageSession, event_id: str) -> Response:
    t = translator(request)
    return await render(
        request,
        "confirm.html",
        session=session,
        title=t._("This wasn't me"),
        text=t._(
            "We'll secure your account: every session, this one included, is signed out, any "
            "change this activity started is canceled, and you'll reset your password with "
            "'Forgot password' before you can sign in again."
        ),
        action=f"/security/activity/{event_id}/not-me",
        button=t._("Secure my account"),
        danger=True,
    )


@router.post("/activity/{event_id}/not-me")
async def not_me(request: Request, session: PageSession, event_id: str, form: Form) -> Response:
    try:
        await account_security.report_not_me(
            get_deps(request), session, event_id, request_context(request)
        )
    except DomainError as error:
        return await render(
            request,
            "message.html",
            session=session,
            title=translator(request)._("Not found"),
            error=error,
            status=404,
        )
    return signed_out(request, "/sign-in?notice=secured")


# -- waiting periods: remove all, "I don't have any of these", cancel ------------------------
@router.get("/remove-all")
async def remove_all_page(request: Request, session: PageSession) -> Response:
    if not is_privileged(request, session) and not await waiting(request, session):
        return step_up_redirect(request.url.path)
    period, t = page_rules(request).waiting_dative, translator(request)
    return await render(
        request,
        "confirm.html",
        session=session,
        title=t._("Remove all security info"),
        text=t._(
            "This doesn't happen at once: your security info is removed in %(period)s. Until "
            "then we can't accept other changes to your security settings or billing info. "
            "Your account stays open and you can use it as usual. We'll tell all your "
            "contacts now, and let you know when it's time to enter new security info.",
            period=period,
        ),
        action="/security/remove-all",
        button=t._("Remove all in %(period)s", period=period),
        danger=True,
        freezable=True,
    )


@router.post("/remove-all")
async def remove_all(request: Request, session: PageSession, form: Form) -> Response:
    try:
        await security_info.remove_all(get_deps(request), session, request_context(request))
    except StepUpRequired:
        return step_up_redirect("/security/remove-all")
    except DomainError as error:
        return await security_error(request, session, error)
    return redirect("/security?notice=change_pending")


@router.get("/pending-change")
async def pending_change_page(request: Request, session: PageSession) -> Response:
    change = await pending_changes.current(get_deps(request), session.account_id)
    if change is None:
        return redirect("/security")
    if not is_privileged(request, session):
        return step_up_redirect(request.url.path)
    t = translator(request)
    return await render(
        request,
        "confirm.html",
        session=session,
        title=t._("Cancel the pending change"),
        text=t._("Your security info stays as it is now, and we'll tell all your contacts."),
        action="/security/pending-change/cancel",
        button=t._("Cancel the change"),
        danger=False,
    )


@router.post("/pending-change/cancel")
async def cancel_pending_change(request: Request, session: PageSession, form: Form) -> Response:
    try:
        await pending_changes.cancel_with_session(
            get_deps(request), session, request_context(request)
        )
    except StepUpRequired:
        return step_up_redirect("/security/pending-change")
    except DomainError as error:
        return await security_error(request, session, error)
    return redirect("/security?notice=change_canceled")


@router.get("/replace")
async def replace_page(request: Request, session: PageSession) -> Response:
    return await render(request, "add_info.html", session=session, values={}, replace=True)


async def _replace_code(
    request: Request, session: Session, verification_id: str, **context: Any
) -> Response:
    t = translator(request)
    return await render(
        request,
        "code.html",
        session=session,
        title=t._("Enter the code we sent to your new contact"),
        lead=t._(
            "Once you type it back, your old security info is replaced in %(period)s, unless "
            "you cancel. We'll tell your old contacts.",
            period=page_rules(request).waiting_dative,
        ),
        action="/security/replace/confirm",
        resend_action="/security/replace/resend",
        hidden={"verification_id": verification_id},
        other_way=("/security/replace", t._("Use another contact")),
        **context,
    )


@router.post("/replace/resend")
async def replace_resend(request: Request, session: PageSession, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    return await resend_and_show(
        request,
        lambda: verification.resend_for_holder(
            get_deps(request), session.account_id, verification_id, client_ip=client_ip(request)
        ),
        partial(_replace_code, request, session, verification_id),
        partial(
            verification.peek_for_holder, get_deps(request), session.account_id, verification_id
        ),
    )


@router.post("/replace")
async def replace(request: Request, session: PageSession, form: Form) -> Response:
    typed = TypedContact.of(form)
    try:
        started = await replace_info.start(
            get_deps(request),
            session,
            typed.kind,
            typed.value,
            typed.label,
            request_context(request),
        )
    except DomainError as error:
        return await contact_form_again(request, session, typed, error, replace=True)
    return await _replace_code(
        request,
        session,
        started.verification.id,
        **code_context(request, started.verification),
    )


@router.post("/replace/confirm")
async def replace_confirm(request: Request, session: PageSession, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    try:
        change = await replace_info.confirm(
            get_deps(request),
            session,
            verification_id,
            field(form, "code"),
            request_context(request),
        )
    except DomainError as error:
        return await _replace_code(
            request,
            session,
            verification_id,
            error=error,
            status=error_status(error),
            **code_context(request, None),
        )
    return redirect(f"/security?notice={'change_pending' if change else 'replaced'}")
