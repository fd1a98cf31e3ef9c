"""What every HTTP front end (``api/``, ``web/``, ``twilio/``) shares: the app's services
for a request, who is calling from where, the one table from domain errors to HTTP
status, and the personal-data export as a download. Front ends import this, never each
other.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from secinfo.bootstrap import App
from secinfo.domain import errors
from secinfo.domain.model import RequestContext
from secinfo.services.deps import Deps

SESSION_COOKIE = "secinfo_session"
DEVICE_COOKIE = "secinfo_device"
DEVICE_HEADER = "x-device-token"
# The pages' language switch (secinfo.web.i18n): also the language of what is sent to
# an account that signs up in this browser.
LANGUAGE_COOKIE = "secinfo_lang"


def get_app(request: Request) -> App:
    app: App = request.app.state.secinfo
    return app


def get_deps(request: Request) -> Deps:
    return get_app(request).deps


def client_ip(request: Request) -> str | None:
    """The end user's address, which the per-client limits count."""
    return request.client.host if request.client else None


def request_context(request: Request) -> RequestContext:
    language = request.cookies.get(LANGUAGE_COOKIE) or request.headers.get("accept-language", "")
    locale = language.split(",")[0].split(";")[0].strip().lower()[:16] or "en"
    return RequestContext(
        ip=client_ip(request),
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        locale=locale if locale.replace("-", "").isalpha() else "en",
        device_token=(
            request.headers.get(DEVICE_HEADER) or request.cookies.get(DEVICE_COOKIE) or None
        ),
    )


async def _deps_dependency(request: Request) -> Deps:
    # Dependencies are async: FastAPI runs a plain ``def`` one on a thread pool, a
    # thread hop per request for no I/O at all.
    return get_deps(request)


DepsDep = Annotated[Deps, Depends(_deps_dependency)]


# -- errors: one table from a domain error to its HTTP status ------------------------------
STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 422,
    errors.NotFound: 404,
    errors.Unauthenticated: 401,
    errors.InvalidCredentials: 401,
    errors.InvalidApiKey: 401,
    errors.ForbiddenScope: 403,
    errors.AccountNotVerified: 403,
    errors.StepUpRequired: 403,
    errors.Conflict: 409,
    errors.NotVerifiedYet: 409,
    errors.CodeNotSupported: 409,
    errors.VerificationNotPending: 409,
    errors.MaxSendAttemptsReached: 429,
    errors.ResendCooldown: 429,
    errors.InvalidCode: 400,
    errors.TooManyRequests: 429,
    errors.RateLimiterUnavailable: 503,
    errors.Overloaded: 503,
    errors.PasswordResetRequired: 403,
    errors.AccountLocked: 403,
    errors.ReconfirmRequired: 403,
    errors.RecoveryProofMissing: 403,
    errors.PasskeyRefused: 400,
    errors.PasskeysUnavailable: 503,
    errors.PasskeyChallengeUsed: 409,
    errors.PasskeyUnknown: 401,
    errors.PasskeyCounterRegressed: 403,
    errors.PasskeySuspect: 403,
}


def status_for(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def export_response(document: dict[str, Any]) -> JSONResponse:
    """The personal-data export as a file download (pages, the holder's and the admin API)."""
    filename = f"secinfo-export-{document['account']['id']}.json"
    return JSONResponse(
        document,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
