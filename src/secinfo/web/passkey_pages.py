"""The pages' side of passkeys: JSON calls from /static/passkeys.js (the pages' only
script), with the browser's session cookie and CSRF token, onto the same services as the
API. Each answer is ``{"options": …}`` to hand to ``navigator.credentials``, or
``{"redirect": "/…"}`` where the page goes next, or ``{"error": {code, message}}`` whose
message the script shows in words.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from secinfo.domain.errors import DomainError, InvalidInput, StepUpRequired
from secinfo.http import get_deps, request_context
from secinfo.services import passkeys, recovery, signin
from secinfo.web.error_text import error_text
from secinfo.web.i18n import translator
from secinfo.web.pages import (
    PageSession,
    checked_json,
    error_status,
    safe_next,
    set_session_cookies,
    with_next,
)

router = APIRouter(include_in_schema=False)
Body = dict[str, Any]


def _error(request: Request, error: DomainError, **extra: Any) -> JSONResponse:
    """The refusal for the page's script, its message in the page's language (the
    script shows it as it is)."""
    body = error.to_dict() | {"message": error_text(error, translator(request))}
    return JSONResponse({"error": body, **extra}, status_code=error_status(error))


def _text(body: Body, name: str, longest: int = 64) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > longest:
        raise InvalidInput(f"'{name}' is missing.")
    return value


def _credential(body: Body) -> dict[str, Any]:
    credential = body.get("credential")
    if not isinstance(credential, dict):
        raise InvalidInput("'credential' is missing: the passkey gave no answer.")
    return credential


def _options(options: passkeys.Options) -> JSONResponse:
    return JSONResponse({"id": options.id, "options": options.options})


# -- add a passkey (Security basics) -------------------------------------------------------
@router.post("/security/passkeys/options")
async def registration_options(request: Request, session: PageSession) -> JSONResponse:
    await checked_json(request)
    try:
        return _options(await passkeys.registration_options(get_deps(request), session))
    except StepUpRequired as error:
        # Prove it's you first, then come back and add it.
        return _error(request, error, redirect=with_next("/security/verify", "/security"))
    except DomainError as error:
        return _error(request, error)


@router.post("/security/passkeys")
async def register(request: Request, session: PageSession) -> JSONResponse:
    body = await checked_json(request)
    label = body.get("label")
    try:
        await passkeys.register(
            get_deps(request),
            session,
            _text(body, "id"),
            _credential(body),
            label if isinstance(label, str) else None,
            request_context(request),
        )
    except DomainError as error:
        return _error(request, error)
    return JSONResponse({"redirect": "/security?notice=passkey_added"})


# -- sign in with a passkey ----------------------------------------------------------------
@router.post("/sign-in/passkey/options")
async def sign_in_options(request: Request) -> JSONResponse:
    await checked_json(request)
    try:
        return _options(await passkeys.sign_in_options(get_deps(request), request_context(request)))
    except DomainError as error:
        return _error(request, error)


@router.post("/sign-in/passkey")
async def sign_in(request: Request) -> JSONResponse:
    body = await checked_json(request)
    next_path = safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    try:
        result = await signin.sign_in_with_passkey(
            get_deps(request), _text(body, "id"), _credential(body), request_context(request)
        )
    except DomainError as error:
        return _error(request, error)
    if result.challenge is not None:  # the reconfirm prompt first
        return JSONResponse({"redirect": f"/sign-in/challenge/{result.challenge.challenge.id}"})
    assert result.session is not None
    response = JSONResponse({"redirect": next_path})
    set_session_cookies(request, response, result.session)
    return response


# -- a proof at a forgotten password -------------------------------------------------------
@router.post("/forgot-password/{recovery_id}/passkey/options")
async def recovery_options(request: Request, recovery_id: str) -> JSONResponse:
    await checked_json(request)
    try:
        return _options(await recovery.passkey_options(get_deps(request), recovery_id))
    except DomainError as error:
        return _error(request, error)


@router.post("/forgot-password/{recovery_id}/passkey")
async def recovery_proof(request: Request, recovery_id: str) -> JSONResponse:
    body = await checked_json(request)
    try:
        await recovery.verify_passkey(
            get_deps(request),
            recovery_id,
            _text(body, "id"),
            _credential(body),
            request_context(request),
        )
    except DomainError as error:
        return _error(request, error)
    return JSONResponse({"redirect": f"/forgot-password/{recovery_id}"})


# -- step up with a passkey ----------------------------------------------------------------
@router.post("/security/passkey-step-up/options")
async def step_up_options(request: Request, session: PageSession) -> JSONResponse:
    await checked_json(request)
    try:
        return _options(await passkeys.step_up_options(get_deps(request), session))
    except DomainError as error:
        return _error(request, error)


@router.post("/security/passkey-step-up")
async def step_up(request: Request, session: PageSession) -> JSONResponse:
    body = await checked_json(request)
    next_path = safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    try:
        await passkeys.step_up(
            get_deps(request),
            session,
            _text(body, "id"),
            _credential(body),
            request_context(request),
        )
    except DomainError as error:
        return _error(request, error)
    return JSONResponse({"redirect": next_path})
