"""What every page shares: templates, the CSRF check, cookies, the signed-in session.

Pages parse a form, call one service and render the result, like the JSON API does;
nothing here decides a rule. The pending-change banner is read on every signed-in page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.datastructures import FormData

from secinfo.domain import passwords
from secinfo.domain.contacts import mask
from secinfo.domain.dates import format_day, format_moment
from secinfo.domain.errors import DomainError, ResendCooldown, Unauthenticated
from secinfo.domain.model import InfoKind, SecurityInfo, Session
from secinfo.domain.passkeys import authenticator_name, rp_id_problem
from secinfo.domain.verification import Verification
from secinfo.http import (
    DEVICE_COOKIE,
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    get_app,
    get_deps,
    status_for,
)
from secinfo.services import accounts, pending_changes
from secinfo.services.accounts import NewSession
from secinfo.services.deps import ServiceConfig
from secinfo.web import i18n
from secinfo.web.error_text import error_text
from secinfo.web.i18n import (
    ENGLISH,
    N_,
    Translator,
    duration,
    translator,
)

CSRF_COOKIE = "secinfo_csrf"
CSRF_FIELD = "csrf_token"
DEVICE_COOKIE_DAYS = 400  # the longest a browser keeps a cookie
HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

# Only our own files: no inline script or style, no other origin (no CDN, no font host).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        # The one script is /static/passkeys.js (passkeys need navigator.credentials).
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # flow ids travel in page URLs
    "Cache-Control": "no-store",
}


def page_headers(t: Translator) -> dict[str, str]:
    """The security headers, and the page's language (it follows the request's
    cookies and Accept-Language, so a shared cache must keep them apart)."""
    return SECURITY_HEADERS | {
        "Content-Language": t.language,
        "Vary": "Accept-Language, Cookie",
    }


# Fixed messages shown after a redirect (?notice=…): no text comes from the URL itself.
NOTICES = {
    "signed_out": N_("You're signed out."),
    "info_added": N_("Your new security info is verified and active."),
    "info_removed": N_("The security info was removed."),
    "label_changed": N_("The label is saved."),
    "removal_pending": N_(
        "That was your last security info that can prove it's you, so its removal waits "
        "%(waiting)s. Add new security info or cancel the request in the meantime."
    ),
    "change_pending": N_("Your request is waiting. We've told all your current contacts."),
    "change_canceled": N_("The pending change is canceled; your security info is as it was."),
    "password_changed": N_("Your password is changed. Every other session was signed out."),
    "two_step_on": N_("2-step verification is on: every sign-in now needs a code too."),
    "two_step_off": N_("2-step verification is off."),
    "sign_in_on": N_("That contact can now be used to sign in."),
    "sign_in_off": N_("That contact can no longer be used to sign in (it stays security info)."),
    "replaced": N_("The new security info is verified and active."),
    "secured": N_(
        "Your account is secured: every session was signed out. Reset your password with "
        "'Forgot password' to sign in again."
    ),
    "password_reset": N_("Your password is reset and every session was signed out. Sign in now."),
    "verified": N_("Thanks, you're verified for the next few minutes."),
    "passkey_added": N_("Your passkey is added. Next time, sign in with it: no password, no code."),
    "account_closed": N_(
        "Your account is closed and you're signed out. Its data is erased after %(grace)s; "
        "sign in before then to keep it."
    ),
    "closure_canceled": N_(
        "Welcome back: you signed in, so your account stays open and nothing will be erased."
    ),
    # The operator pages (/admin)
    "admin_retried": "The message is queued again; a worker sends it shortly.",
    "admin_unblocked": "The block is lifted: codes go to numbers with that prefix again.",
    "admin_redelivered": "The delivery is queued again, with the same webhook-id.",
    "admin_key_revoked": "The API key is revoked: calls with it are refused from now on.",
    "admin_locked": "The account is locked: it cannot sign in or recover until unlocked.",
    "admin_unlocked": "The account is unlocked: it can sign in again.",
    "admin_sessions_revoked": "Every session of the account is signed out.",
    "admin_change_canceled": "The pending change is canceled; the holder's contacts are told.",
    "admin_reset_required": (
        "The account must reset its password before it signs in again; its sessions ended."
    ),
}


# The passkey script's sentences (/static/passkeys.js), handed to it in the page's language.
PASSKEY_TEXTS = {
    "not_allowed": N_(
        "The passkey request was canceled, timed out or not allowed. Try again, or use another way."
    ),
    "aborted": N_("The passkey request was canceled. Try again when you're ready."),
    "registered_already": N_(
        "This device already holds a passkey for your account: you can use it to sign in."
    ),
    "invalid_state": N_("This passkey can't be used here. Try another way."),
    "security": N_("This site's address doesn't allow passkeys. Use another way."),
    "not_supported": N_("This device has no passkey that fits. Use another way."),
    "failed": N_("The passkey didn't work. Try again, or use another way."),
    "unreachable": N_("We couldn't reach the server. Check your connection and try again."),
    "expired": N_("This page has expired. Reload it and try again."),
    "unsupported": N_(
        "This browser doesn't support passkeys (WebAuthn), so the passkey option is hidden."
    ),
}

# What each kind of security info is called where it has no contact to show.
KIND_NOUNS = {
    InfoKind.EMAIL: N_("email"),
    InfoKind.PHONE: N_("phone"),
    InfoKind.AUTHENTICATOR: N_("authenticator app"),
    InfoKind.RECOVERY_CODE: N_("recovery code"),
    InfoKind.PASSKEY: N_("passkey"),
}


@pass_context
def _shown_name(context: Context, item: SecurityInfo) -> str:
    """An item as pages name it: a contact masked, the others by label or by kind."""
    if item.channel is not None:
        return item.masked
    return item.label or i18n.of(context)._(KIND_NOUNS[item.kind])


@pass_context
def _shown_value(context: Context, item: SecurityInfo) -> str:
    """An item's value column: a contact masked, the others by kind."""
    if item.channel is not None:
        return item.masked
    return i18n.of(context)._(KIND_NOUNS[item.kind])


@dataclass(frozen=True)
class PageRules:
    """The configured periods and rules, worded for page text (never typed in a page),
    in the page's language; ``*_dative`` after "in"/"after" ("in 30 Tagen")."""

    waiting: str
    waiting_dative: str
    activity: str
    reconfirm_skip: str
    reconfirm_grace_dative: str
    step_up: str
    code_ttl: str
    password_min_length: int
    password_hint: str
    erasure_grace_dative: str

    @classmethod
    def of(cls, config: ServiceConfig, t: Translator = ENGLISH) -> PageRules:
        return cls(
            waiting=duration(config.waiting_period.length, t),
            waiting_dative=duration(config.waiting_period.length, t, dative=True),
            activity=duration(config.activity_retention, t),
            reconfirm_skip=duration(config.reconfirm.skip_for, t),
            reconfirm_grace_dative=duration(config.reconfirm.grace, t, dative=True),
            step_up=duration(config.step_up_window, t),
            code_ttl=duration(config.code_policy.ttl, t),
            password_min_length=passwords.MIN_LENGTH,
            password_hint=t._("At least %(num)d characters.", num=passwords.MIN_LENGTH),
            erasure_grace_dative=duration(config.erasure.grace, t, dative=True),
        )


def page_rules(request: Request) -> PageRules:
    """The rules worded in this page's language."""
    return PageRules.of(get_deps(request).config, translator(request))


@pass_context
def _format_time(context: Context, value: datetime | None) -> str:
    if value:
        return format_moment(value, context.get("locale"))
    return i18n.of(context)._("never")


@pass_context
def _format_date(context: Context, value: datetime | None) -> str:
    return format_day(value, context.get("locale")) if value else ""


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
    auto_reload=False,  # the templates ship with the package: read once per process
)
i18n.install(templates)
templates.filters["when"] = _format_time
templates.filters["date"] = _format_date
templates.filters["authenticator_name"] = authenticator_name
templates.filters["shown_name"] = _shown_name
templates.filters["shown_value"] = _shown_value


# Paths that answer JSON (or files), never a page, also when they fail.
NOT_PAGES = (
    "/v1",
    "/dev/mailbox.json",
    "/openapi.json",
    "/docs",
    "/metrics",
    "/healthz",
    "/readyz",
    "/static",
)


def is_page_path(path: str) -> bool:
    return not any(path == prefix or path.startswith(prefix + "/") for prefix in NOT_PAGES)


class CsrfRejected(Exception):
    """A form came without our token: from another site, or from a page too old."""


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def is_development(request: Request) -> bool:
    return get_app(request).settings.is_development


def safe_next(value: str | None, default: str = "/security") -> str:
    """Only a path on this site: never another origin (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def with_next(path: str, next_path: str) -> str:
    return f"{path}?next={quote(next_path, safe='/')}"


def language_url(request: Request, language: str, back: str | None = None) -> str:
    """The language switch's link: choose ``language``, then come back to this page (a
    page shown after a form post comes back to the form), or to ``back``."""
    if back is not None:
        return f"/language?lang={language}&next={quote(back, safe='/')}"
    back = request.url.path
    if request.method == "GET":
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        if query:
            back = f"{back}?{urlencode(query)}"
    return f"/language?lang={language}&next={quote(back, safe='/')}"


def chose_language(request: Request, language: str, next_path: str) -> RedirectResponse:
    """The language switch: a preference cookie (no state on the server, so a link
    another site makes changes nothing but the language), then back to the page."""
    response = redirect(safe_next(next_path, "/"))
    if language in i18n.LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=int(timedelta(days=DEVICE_COOKIE_DAYS).total_seconds()),
            **_cookie_options(request),
        )
    return response


def step_up_redirect(back_to: str) -> RedirectResponse:
    """Ask for a code first, then come back to what the person was doing."""
    return redirect(with_next("/security/verify", back_to))


# -- CSRF: a random cookie, and a form field that is its HMAC with the server secret ------
def _csrf_for(request: Request, cookie: str) -> str:
    secret = get_deps(request).codes.secret_for("web-csrf")
    return hmac.new(secret, cookie.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    cookie = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not cookie:
        cookie = secrets.token_urlsafe(32)
        request.state.new_csrf = cookie
    return _csrf_for(request, cookie)


async def checked_json(request: Request) -> dict[str, Any]:
    """The posted JSON object (the passkey script's calls), once the CSRF token in its
    ``X-CSRF-Token`` header matches this browser's cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get("x-csrf-token", "")
    if not cookie or not hmac.compare_digest(_csrf_for(request, cookie), sent):
        raise CsrfRejected()
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches this browser's cookie."""
    form = await request.form()
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not cookie or not isinstance(sent, str):
        raise CsrfRejected()
    if not hmac.compare_digest(_csrf_for(request, cookie), sent):
        raise CsrfRejected()
    return form


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def contact_kind(form: FormData) -> InfoKind:
    """The kind of contact a form's ``kind`` field names: a phone, else an email."""
    return InfoKind.PHONE if field(form, "kind") == "phone" else InfoKind.EMAIL


@dataclass(frozen=True)
class TypedContact:
    """What an add-a-contact form (add, replace) was sent with, to call a service with
    and to show again when the service refuses it."""

    kind: InfoKind
    value: str
    label: str | None
    shown: dict[str, str]

    @classmethod
    def of(cls, form: FormData) -> TypedContact:
        value, label = field(form, "value"), field(form, "label")
        shown = {"kind": field(form, "kind"), "value": value, "label": label}
        return cls(contact_kind(form), value, label or None, shown)


async def contact_form_again(
    request: Request, session: Session, typed: TypedContact, error: DomainError, *, replace: bool
) -> Response:
    """The add-a-contact form again, with what was typed and why it was refused."""
    return await render(
        request,
        "add_info.html",
        session=session,
        error=error,
        status=error_status(error),
        values=typed.shown,
        replace=replace,
    )


def raw_field(form: FormData, name: str) -> str:
    """Passwords: exactly as typed."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


# -- the signed-in session -----------------------------------------------------------------
async def optional_session(request: Request) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    deps = get_deps(request)
    try:
        if i18n.explicit_choice(request) is not None:
            return await accounts.authenticate(deps, token)
        # Without the reader's own choice, the account's language is the page's.
        session, request.state.account_locale = await accounts.authenticate_with_locale(deps, token)
    except Unauthenticated:
        return None
    return session


async def page_session(request: Request) -> Session:
    session = await optional_session(request)
    if session is None:
        path = request.url.path if request.method == "GET" else "/security"
        if request.method == "GET" and request.url.query:
            path = f"{path}?{request.url.query}"
        raise SignInRequired(path)
    return session


PageSession = Annotated[Session, Depends(page_session)]
Form = Annotated[FormData, Depends(checked_form)]


def is_privileged(request: Request, session: Session) -> bool:
    return session.is_privileged(get_deps(request).clock.now())


# -- cookies -------------------------------------------------------------------------------
def _cookie_options(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "lax", "secure": not is_development(request), "path": "/"}


def signed_in(request: Request, new_session: NewSession, next_path: str) -> RedirectResponse:
    """Set the session cookie (and the device cookie for a new browser) and go on; a
    sign-in that canceled a closure says so first."""
    if new_session.closure_canceled:
        next_path = "/security?notice=closure_canceled"
    response = redirect(next_path)
    set_session_cookies(request, response, new_session)
    return response


def set_session_cookies(request: Request, response: Response, new_session: NewSession) -> None:
    """The session cookie, and the device cookie for a new browser."""
    ttl = new_session.session.expires_at - new_session.session.created_at
    response.set_cookie(
        SESSION_COOKIE,
        new_session.token,
        max_age=int(ttl.total_seconds()),
        **_cookie_options(request),
    )
    if new_session.device_token:
        response.set_cookie(
            DEVICE_COOKIE,
            new_session.device_token,
            max_age=int(timedelta(days=DEVICE_COOKIE_DAYS).total_seconds()),
            **_cookie_options(request),
        )


def signed_out(request: Request, next_path: str) -> RedirectResponse:
    response = redirect(next_path)
    response.delete_cookie(SESSION_COOKIE, **_cookie_options(request))
    return response


# -- rendering -----------------------------------------------------------------------------
def code_context(request: Request, verification: Verification | None) -> dict[str, Any]:
    """What a code page shows about its verification: the cool-down and tries left."""
    deps = get_deps(request)
    policy = deps.config.code_policy
    context: dict[str, Any] = {}
    if verification is not None:
        now = deps.clock.now()
        available = verification.resend_available_at(policy)
        wait = (available - now).total_seconds() if available else 0
        context["resend_wait"] = max(int(wait + 0.999), 0)
        context["resend_at"] = available
        context["sends_left"] = max(policy.max_sends - verification.send_attempts, 0)
        context["to"] = mask(verification.channel, verification.destination)
    return context


def fresh_send_context(request: Request) -> dict[str, Any]:
    """The cool-down after a send whose verification the page may not see (recovery
    answers the same whether or not a code went out): it follows from the policy alone."""
    deps = get_deps(request)
    cooldown = deps.config.code_policy.resend_cooldown
    return {
        "resend_wait": int(cooldown.total_seconds()),
        "resend_at": deps.clock.now() + cooldown,
    }


def resend_refused_context(request: Request, error: DomainError) -> dict[str, Any]:
    """What a code page shows when "send a new code" was refused: for the cool-down,
    how long to wait (the error's ``retry_after``)."""
    retry_after = error.details.get("retry_after")
    if not isinstance(error, ResendCooldown) or not isinstance(retry_after, int):
        return {}
    return {
        "resend_wait": retry_after,
        "resend_at": get_deps(request).clock.now() + timedelta(seconds=retry_after),
    }


async def resend_and_show(
    request: Request,
    send: Callable[[], Awaitable[Verification]],
    show: Callable[..., Awaitable[Response]],
    current: Callable[[], Awaitable[Verification | None]] | None = None,
) -> Response:
    """I didn't get a code: send a new one, then show the code page again, either
    resent or saying why not (for the cool-down, how long is left). ``current`` reads
    the verification when the send is refused, so the page still says where the code
    went and the time left on its own clock."""
    try:
        sent = await send()
    except DomainError as error:
        shown = await current() if current is not None else None
        context = code_context(request, shown) | resend_refused_context(request, error)
        return await show(error=error, status=error_status(error), **context)
    return await show(resent=True, **code_context(request, sent))


async def render(
    request: Request,
    template: str,
    *,
    session: Session | None = None,
    status: int = 200,
    error: DomainError | str | None = None,
    **context: Any,
) -> HTMLResponse:
    deps = get_deps(request)
    settings = get_app(request).settings
    # The page's own read may bring the pending change (or its absence); else it is read here.
    if "pending_change" in context:
        change = context.pop("pending_change")
    elif session is not None:
        change = await pending_changes.current(deps, session.account_id)
    else:
        change = None
    t = translator(request)
    message = error_text(error, t) if isinstance(error, DomainError) else error
    rules = PageRules.of(deps.config, t)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    notice_text = (
        t._(notice, waiting=rules.waiting, grace=rules.erasure_grace_dative) if notice else None
    )
    policy = deps.config.code_policy
    context = {"code_length": policy.length, "code_numeric": not policy.alphanumeric} | context
    body = templates.get_template(template).render(
        request=request,
        path=request.url.path,
        product=settings.product_name,
        development=settings.is_development,
        session=session,
        pending_change=change,
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token(request),
        error=message,
        error_code=error.code if isinstance(error, DomainError) else None,
        notice=notice_text,
        rules=rules,
        i18n=t,
        locale=t.locale,
        languages={} if i18n.is_english_only(request) else i18n.LANGUAGES,
        # A "not found" page comes back to the start page: it names no path (the operator
        # area's "not found" is word for word any other).
        language_url=partial(language_url, request, back="/" if status == 404 else None),
        passkey_texts={key: t._(text) for key, text in PASSKEY_TEXTS.items()},
        now=deps.clock.now(),
        passkeys_off=rp_id_problem(deps.config.web_domain, deps.config.public_url),
        **context,
    )
    response = HTMLResponse(body, status_code=status, headers=page_headers(t))
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        response.set_cookie(CSRF_COOKIE, new_csrf, **_cookie_options(request))
    return response


def error_status(error: DomainError) -> int:
    return status_for(error)
