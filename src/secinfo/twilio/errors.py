"""One table from domain errors to Twilio's error codes, and Twilio's error body.

Twilio's body is exactly ``{"code", "message", "more_info", "status"}``; the SDKs raise
``TwilioRestException`` with ``code`` and ``status`` from it.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from secinfo.domain import errors

log = structlog.get_logger("secinfo.twilio")

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"

AUTHENTICATE = (20003, 401)
NOT_FOUND = (20404, 404)
INVALID_PARAMETER = (60200, 400)
MAX_CHECKS = (60202, 429)
MAX_SENDS = (60203, 429)
CONCURRENT = (60212, 429)
TOO_MANY = (20429, 429)
FRAUD_GUARD = (60410, 403)
GEO_PERMISSION = (60605, 403)
UNAVAILABLE = (20503, 503)
INTERNAL = (20500, 500)
METHOD_NOT_ALLOWED = (20004, 405)

# Most specific first: the first class in an error's MRO found here decides.
CODE_BY_ERROR: dict[type[errors.DomainError], tuple[int, int]] = {
    errors.InvalidApiKey: AUTHENTICATE,
    errors.NotFound: NOT_FOUND,
    # Twilio forgets a verification once approved, canceled or expired: 404.
    errors.VerificationExpired: NOT_FOUND,
    errors.MaxAttemptsReached: MAX_CHECKS,
    errors.VerificationNotPending: NOT_FOUND,
    errors.MaxSendAttemptsReached: MAX_SENDS,
    # A resend inside the cool-down, or concurrent starts for one number that kept
    # colliding: Twilio's "too many concurrent requests for phone number".
    errors.ResendCooldown: CONCURRENT,
    errors.Conflict: CONCURRENT,
    errors.CountryNotAllowed: GEO_PERMISSION,
    errors.PrefixPaused: FRAUD_GUARD,
    errors.DestinationNotAllowed: FRAUD_GUARD,
    errors.InvalidInput: INVALID_PARAMETER,
    errors.TooManyRequests: TOO_MANY,
    errors.RateLimiterUnavailable: UNAVAILABLE,
}

# Twilio's own short messages, before what secinfo adds about this case.
TITLES = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    60200: "Invalid parameter",
    60202: "Max check attempts reached",
    60203: "Max send attempts reached",
    60212: "Too many concurrent requests for phone number",
    20429: "Too Many Requests",
    60410: "Verification delivery attempt blocked",
    60605: "Verification delivery attempt blocked: the destination country is not enabled",
    20503: "Service unavailable",
    20500: "Internal Server Error",
    20004: "Method not allowed",
}


def twilio_code(error: errors.DomainError) -> tuple[int, int]:
    if isinstance(error, errors.TooManyRequests):
        # The per-destination send limit is what Twilio's 60203 counts: sends to one
        # number or address in a window.
        if error.details.get("limit") == "code.send.destination":
            return MAX_SENDS
        return TOO_MANY
    for cls in type(error).__mro__:
        if cls in CODE_BY_ERROR:
            return CODE_BY_ERROR[cls]
    return INVALID_PARAMETER


def error_body(code: int, status: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": MORE_INFO.format(code=code),
        "status": status,
    }


def twilio_error(
    code: int, status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, status, message), status_code=status, headers=headers)


def _path(request: Request) -> str:
    path = request.url.path
    marker = "/twilio/v2"
    return path[path.index(marker) + len(marker) :] if marker in path else path


def message_for(error: errors.DomainError, code: int, request: Request) -> str:
    title = TITLES.get(code, "Error").format(path=_path(request))
    if code == 60200:
        parameter = error.details.get("parameter")
        prefix = f"Invalid parameter `{parameter}`" if parameter else title
        return f"{prefix}: {error.message}"
    if code in (20003, 20404):
        return title
    return f"{title}: {error.message}"


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.DomainError)
    async def domain_error(request: Request, error: errors.DomainError) -> JSONResponse:
        code, status = twilio_code(error)
        headers: dict[str, str] = {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        retry_after = error.details.get("retry_after")
        if status == 429 and retry_after:
            headers["Retry-After"] = str(retry_after)
        return twilio_error(code, status, message_for(error, code, request), headers or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 405:
            code, status = METHOD_NOT_ALLOWED
            return twilio_error(code, status, TITLES[code])
        code, status = NOT_FOUND
        return twilio_error(code, status, TITLES[code].format(path=_path(request)))

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, error: IntegrityError) -> JSONResponse:
        log.info("twilio.integrity_conflict", error=type(error.orig).__name__)
        code, status = CONCURRENT
        return twilio_error(code, status, "The request collided with another one; try again.")

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("twilio.unexpected_error", path=request.url.path)
        code, status = INTERNAL
        return twilio_error(code, status, "Something went wrong on our side; nothing was changed.")
