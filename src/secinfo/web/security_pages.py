"""Security basics: the signed-in holder's pages.

Actions that need a recent code send the person to the step-up page first and bring
them back to the same page afterwards (``?next=``). The services still enforce it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from secinfo.domain.errors import DomainError, NotFound, StepUpRequired
from secinfo.domain.model import MAX_LABEL_LENGTH, InfoKind, InfoState, SecurityInfo, Session
from secinfo.domain.verification import Verification
from secinfo.http import client_ip, get_deps, request_context
from secinfo.services import (
    account_security,
    accounts,
    pending_changes,
    security_info,
    step_up,
    verification,
)
from secinfo.web.i18n import Translator, translator
from secinfo.web.pages import (
    Form,
    PageSession,
    TypedContact,
    code_context,
    contact_form_again,
    error_status,
    field,
    is_privileged,
    optional_session,
    page_rules,
    raw_field,
    redirect,
    render,
    resend_and_show,
    safe_next,
    step_up_redirect,
)

router = APIRouter(prefix="/security", include_in_schema=False)


async def _items(request: Request, session: Session) -> list[SecurityInfo]:
    return await security_info.list_info(get_deps(request), session.account_id)


async def waiting(request: Request, session: Session) -> bool:
    """A change waits: settings pages show themselves frozen, without a code first."""
    return await pending_changes.current(get_deps(request), session.account_id) is not None


def sign_in_candidates(items: list[SecurityInfo]) -> list[SecurityInfo]:
    """What sign-in options list: contacts that are (or are about to stop being) security
    info, and any that is still a sign-in name."""
    return [
        item
        for item in items
        if item.channel is not None
        and (item.state in (InfoState.ACTIVE, InfoState.REMOVAL_PENDING) or item.sign_in)
    ]


async def _item(request: Request, session: Session, item_id: str) -> SecurityInfo:
    return await security_info.get_own(get_deps(request), session, item_id)


def _back(request: Request) -> str:
    return request.url.path


# -- Security basics -------------------------------------------------------------------------
@router.get("")
async def security_basics(request: Request, session: PageSession) -> Response:
    return await _security_page(
        request, session, welcome=request.query_params.get("welcome") == "1"
    )


async def _security_page(request: Request, session: Session, **context: Any) -> Response:
    shown = await account_security.overview(get_deps(request), session.account_id)
    return await render(
        request,
        "security.html",
        session=session,
        items=shown.items,
        two_step=shown.two_step,
        pending_change=shown.pending_change,
        privileged=is_privileged(request, session),
        **context,
    )


# -- step-up: a code, then back to what the person was doing ---------------------------------
@router.get("/verify")
async def step_up_page(request: Request, session: PageSession) -> Response:
    items = await _items(request, session)
    return await render(
        request,
        "step_up.html",
        session=session,
        options=[item for item in items if item.can_receive_codes],
        held=_held(items),
        passkey=_has_passkey(items),
        next=safe_next(request.query_params.get("next")),
    )


def _has_passkey(items: list[SecurityInfo]) -> bool:
    return any(item.kind.signs and item.can_prove for item in items)


def _held(items: list[SecurityInfo]) -> list[SecurityInfo]:
    """The authenticator apps and the recovery code, checked in one step."""
    return [item for item in items if item.kind.holds_secret and item.can_prove]


async def _step_up_code(
    request: Request, session: Session, verification_id: str, next_path: str, **context: Any
) -> Response:
    t = translator(request)
    return await render(
        request,
        "code.html",
        session=session,
        title=t._("Enter the code"),
        lead=t._("It keeps you verified for a few minutes."),
        action=f"/security/verify/{verification_id}",
        resend_action=f"/security/verify/{verification_id}/resend",
        hidden={"next": next_path},
        other_way=("/security/replace", t._("I don't have any of these")),
        **context,
    )


@router.post("/verify")
async def step_up_send(request: Request, session: PageSession, form: Form) -> Response:
    next_path = safe_next(field(form, "next"))
    try:
        sent = await step_up.start(
            get_deps(request),
            session,
            field(form, "security_info_id"),
            client_ip=client_ip(request),
        )
    except DomainError as error:
        items = await _items(request, session)
        return await render(
            request,
            "step_up.html",
            session=session,
            options=[item for item in items if item.can_receive_codes],
            held=_held(items),
            passkey=_has_passkey(items),
            next=next_path,
            error=error,
            status=error_status(error),
        )
    return await _step_up_code(request, session, sent.id, next_path, **code_context(request, sent))


@router.post("/verify/{verification_id}")
async def step_up_check(
    request: Request, session: PageSession, verification_id: str, form: Form
) -> Response:
    next_path = safe_next(field(form, "next"))
    try:
        await step_up.check(
            get_deps(request),
            session,
            verification_id,
            field(form, "code"),
            request_context(request),
        )
    except DomainError as error:
        return await _step_up_code(
            request,
            session,
            verification_id,
            next_path,
            error=error,
            status=error_status(error),
            **code_context(request, None),
        )
    return redirect(next_path)


async def _resend(request: Request, session: Session, verification_id: str) -> Verification:
    return await verification.resend_for_holder(
        get_deps(request), session.account_id, verification_id, client_ip=client_ip(request)
    )


def _current(request: Request, session: Session, verification_id: str) -> Any:
    """Reads the holder's verification for a refused resend's page."""
    return partial(
        verification.peek_for_holder, get_deps(request), session.account_id, verification_id
    )


@router.post("/verify/{verification_id}/resend")
async def step_up_resend(
    request: Request, session: PageSession, verification_id: str, form: Form
) -> Response:
    next_path = safe_next(field(form, "next"))
    return await resend_and_show(
        request,
        lambda: _resend(request, session, verification_id),
        partial(_step_up_code, request, session, verification_id, next_path),
        _current(request, session, verification_id),
    )


# -- add an email or phone -------------------------------------------------------------------
@router.get("/add")
async def add_page(request: Request, session: PageSession) -> Response:
    items = await _items(request, session)
    needs_step_up = any(item.can_prove for item in items)
    if (
        needs_step_up
        and not is_privileged(request, session)
        and not await waiting(request, session)
    ):
        return step_up_redirect(_back(request))
    return await render(request, "add_info.html", session=session, values={}, replace=False)


async def _add_code(
    request: Request, session: Session | None, item_id: str, verification_id: str, **context: Any
) -> Response:
    t = translator(request)
    return await render(
        request,
        "code.html",
        session=session,
        title=t._("Enter the code we sent to your new contact"),
        lead=t._("It becomes part of your security info once you type the code back."),
        action=f"/security/add/{item_id}/verify",
        resend_action=f"/security/add/{item_id}/resend",
        hidden={"verification_id": verification_id},
        **context,
    )


@router.post("/add")
async def add(request: Request, session: PageSession, form: Form) -> Response:
    typed = TypedContact.of(form)
    try:
        started = await security_info.add(
            get_deps(request),
            session,
            typed.kind,
            typed.value,
            typed.label,
            request_context(request),
        )
    except StepUpRequired:
        return step_up_redirect("/security/add")
    except DomainError as error:
        return await contact_form_again(request, session, typed, error, replace=False)
    return await _add_code(
        request,
        session,
        started.item.id,
        started.verification.id,
        **code_context(request, started.verification),
    )


async def _holds(request: Request, session: Session | None, item_id: str) -> bool:
    return session is not None and any(
        item.id == item_id for item in await _items(request, session)
    )


# The code page of an add survives the browser's session changing ("verifying with
# another account"): when the cookie no longer holds the item's account (the person
# signed in to the account the new email belongs to, in another tab, to read the code),
# the flow's own id and the code authorise finishing it. Nothing of the current
# session's account is shown on these pages.
@router.post("/add/{item_id}/verify")
async def add_verify(request: Request, item_id: str, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    session = await optional_session(request)
    if not await _holds(request, session, item_id):
        code = field(form, "code")
        return await _add_verify_by_flow(request, session, item_id, verification_id, code)
    assert session is not None
    try:
        await security_info.confirm_add(
            get_deps(request),
            session,
            item_id,
            verification_id,
            field(form, "code"),
            request_context(request),
        )
    except DomainError as error:
        return await _add_code(
            request,
            session,
            item_id,
            verification_id,
            error=error,
            status=error_status(error),
            **code_context(request, None),
        )
    return redirect("/security?notice=info_added")


async def _add_verify_by_flow(
    request: Request, session: Session | None, item_id: str, verification_id: str, code: str
) -> Response:
    try:
        added = await security_info.confirm_add_by_flow(
            get_deps(request), item_id, verification_id, code, request_context(request)
        )
    except DomainError as error:
        return await _add_code(
            request,
            None,
            item_id,
            verification_id,
            error=error,
            status=error_status(error),
            **code_context(request, None),
        )
    name, t = added.account_name, translator(request)
    if session is not None:
        text = t._(
            "%(item)s is now security info of the account %(name)s. This browser is now "
            "signed in to a different account: sign in to %(name)s again to see it.",
            item=added.item.masked,
            name=name,
        )
    else:
        text = t._(
            "%(item)s is now security info of the account %(name)s. This browser isn't "
            "signed in to it any more: sign in to %(name)s again to see it.",
            item=added.item.masked,
            name=name,
        )
    return await render(
        request,
        "message.html",
        title=t._("Your new security info is verified"),
        text=text,
        link=("/sign-in?next=/security", t._("Sign in to %(name)s", name=name)),
    )


@router.post("/add/{item_id}/resend")
async def add_resend(request: Request, item_id: str, form: Form) -> Response:
    verification_id = field(form, "verification_id")
    session = await optional_session(request)
    if not await _holds(request, session, item_id):
        return await resend_and_show(
            request,
            lambda: security_info.resend_add_by_flow(
                get_deps(request), item_id, verification_id, client_ip=client_ip(request)
            ),
            partial(_add_code, request, None, item_id, verification_id),
        )
    assert session is not None
    return await resend_and_show(
        request,
        lambda: _resend(request, session, verification_id),
        partial(_add_code, request, session, item_id, verification_id),
        _current(request, session, verification_id),
    )


# -- label ---------------------------------------------------------------------------------
async def _label_page(
    request: Request, session: Session, item: SecurityInfo, label: str | None, **context: Any
) -> Response:
    return await render(
        request,
        "label.html",
        session=session,
        item=item,
        label=label or "",
        max_length=MAX_LABEL_LENGTH,
        **context,
    )


@router.get("/info/{item_id}/label")
async def label_page(request: Request, session: PageSession, item_id: str) -> Response:
    try:
        item = await _item(request, session, item_id)
    except DomainError:
        return redirect("/security")
    return await _label_page(request, session, item, item.label)


@router.post("/info/{item_id}/label")
async def update_label(
    request: Request, session: PageSession, item_id: str, form: Form
) -> Response:
    label = field(form, "label")
    try:
        await security_info.update_label(
            get_deps(request), session, item_id, label or None, request_context(request)
        )
    except NotFound:
        return redirect("/security")
    except DomainError as error:
        # A pending change refuses it (the banner says until when), and so does a label
        # that is too long.
        item = await _item(request, session, item_id)
        return await _label_page(
            request, session, item, label, error=error, status=error_status(error)
        )
    return redirect("/security?notice=label_changed")


# -- remove one ------------------------------------------------------------------------------
@router.get("/info/{item_id}/remove")
async def remove_page(request: Request, session: PageSession, item_id: str) -> Response:
    if not is_privileged(request, session) and not await waiting(request, session):
        return step_up_redirect(_back(request))
    try:
        item = await _item(request, session, item_id)
    except DomainError:
        return redirect("/security")
    t = translator(request)
    return await render(
        request,
        "confirm.html",
        session=session,
        title=_removal_title(item, t),
        text=t._(
            "We won't send codes or security notices to it any more. If it is your last "
            "contact that can receive codes, the removal waits %(waiting)s.",
            waiting=page_rules(request).waiting,
        ),
        action=f"/security/info/{item_id}/remove",
        button=t._("Remove"),
        danger=True,
        freezable=True,
    )


def _removal_title(item: SecurityInfo, t: Translator) -> str:
    """ "Remove the passkey “Work laptop”?": kinds without a contact go by their label."""
    if item.channel is not None:
        return t._("Remove %(item)s?", item=item.masked)
    if item.kind is InfoKind.PASSKEY:
        if item.label:
            return t._("Remove the passkey “%(label)s”?", label=item.label)
        return t._("Remove the passkey?")
    if item.kind is InfoKind.AUTHENTICATOR:
        if item.label:
            return t._("Remove the authenticator app “%(label)s”?", label=item.label)
        return t._("Remove the authenticator app?")
    if item.label:
        return t._("Remove the recovery code “%(label)s”?", label=item.label)
    return t._("Remove the recovery code?")


@router.post("/info/{item_id}/remove")
async def remove(request: Request, session: PageSession, item_id: str, form: Form) -> Response:
    try:
        removal = await security_info.remove(
            get_deps(request), session, item_id, request_context(request)
        )
    except StepUpRequired:
        return step_up_redirect(f"/security/info/{item_id}/remove")
    except DomainError as error:
        return await security_error(request, session, error)
    notice = "removal_pending" if removal.pending_change else "info_removed"
    return redirect(f"/security?notice={notice}")


async def security_error(request: Request, session: Session, error: DomainError) -> Response:
    return await _security_page(request, session, error=error, status=error_status(error))


# -- sign-in options -------------------------------------------------------------------------
@router.get("/sign-in-options")
async def sign_in_options(request: Request, session: PageSession) -> Response:
    if not is_privileged(request, session) and not await waiting(request, session):
        return step_up_redirect(_back(request))
    items = sign_in_candidates(await _items(request, session))
    return await render(request, "sign_in_options.html", session=session, items=items)


@router.post("/sign-in-options/{item_id}")
async def set_sign_in_option(
    request: Request, session: PageSession, item_id: str, form: Form
) -> Response:
    enabled = field(form, "enabled") == "on"
    try:
        await security_info.set_sign_in(
            get_deps(request), session, item_id, enabled, request_context(request)
        )
    except StepUpRequired:
        return step_up_redirect("/security/sign-in-options")
    except DomainError as error:
        return await render(
            request,
            "sign_in_options.html",
            session=session,
            items=sign_in_candidates(await _items(request, session)),
            error=error,
            status=error_status(error),
        )
    return redirect(
        f"/security/sign-in-options?notice={'sign_in_on' if enabled else 'sign_in_off'}"
    )


# -- password --------------------------------------------------------------------------------
@router.get("/password")
async def password_page(request: Request, session: PageSession) -> Response:
    if not is_privileged(request, session) and not await waiting(request, session):
        return step_up_redirect(_back(request))
    return await render(request, "password.html", session=session)


@router.post("/password")
async def change_password(request: Request, session: PageSession, form: Form) -> Response:
    try:
        await accounts.change_password(
            get_deps(request),
            session,
            raw_field(form, "current_password"),
            raw_field(form, "new_password"),
            request_context(request),
        )
    except StepUpRequired:
        return step_up_redirect("/security/password")
    except DomainError as error:
        return await render(
            request, "password.html", session=session, error=error, status=error_status(error)
        )
    return redirect("/security?notice=password_changed")


# -- 2-step verification ---------------------------------------------------------------------
@router.get("/two-step")
async def two_step_page(request: Request, session: PageSession) -> Response:
    if not is_privileged(request, session) and not await waiting(request, session):
        return step_up_redirect(_back(request))
    enabled = await account_security.two_step_enabled(get_deps(request), session.account_id)
    return await render(request, "two_step.html", session=session, enabled=enabled)


@router.post("/two-step")
async def set_two_step(request: Request, session: PageSession, form: Form) -> Response:
    enabled = field(form, "enabled") == "on"
    deps = get_deps(request)
    try:
        await account_security.set_two_step(deps, session, enabled, request_context(request))
    except StepUpRequired:
        return step_up_redirect("/security/two-step")
    except DomainError as error:
        current = await account_security.two_step_enabled(deps, session.account_id)
        return await render(
            request,
            "two_step.html",
            session=session,
            enabled=current,
            error=error,
            status=error_status(error),
        )
    return redirect(f"/security?notice={'two_step_on' if enabled else 'two_step_off'}")
