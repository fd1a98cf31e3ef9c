"""Request-scoped helpers: the app's services, who is calling, from where."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from secinfo.bootstrap import App
from secinfo.domain.errors import InvalidApiKey, Unauthenticated
from secinfo.domain.model import ApiKey, ApiKeyScope, RequestContext, Session
from secinfo.services import accounts, api_keys
from secinfo.services.deps import Deps

SESSION_COOKIE = "secinfo_session"
DEVICE_COOKIE = "secinfo_device"
DEVICE_HEADER = "x-device-token"


def get_app(request: Request) -> App:
    app: App = request.app.state.secinfo
    return app


def get_deps(request: Request) -> Deps:
    return get_app(request).deps


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def request_context(request: Request) -> RequestContext:
    language = request.headers.get("accept-language", "")
    locale = language.split(",")[0].split(";")[0].strip().lower()[:16] or "en"
    return RequestContext(
        ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        locale=locale if locale.replace("-", "").isalpha() else "en",
        device_token=(
            request.headers.get(DEVICE_HEADER) or request.cookies.get(DEVICE_COOKIE) or None
        ),
    )


async def current_session(request: Request) -> Session:
    token = bearer_token(request)
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
    if token is None:
        raise Unauthenticated()
    return await accounts.authenticate(get_deps(request), token)


async def current_api_key(request: Request) -> ApiKey:
    """A verification-scoped key (the Verify API)."""
    token = bearer_token(request)
    if token is None:
        raise InvalidApiKey()
    return await api_keys.authenticate_scope(get_deps(request), token, ApiKeyScope.VERIFICATION)


async def current_admin_key(request: Request) -> ApiKey:
    """An admin-scoped key: every ``/v1/admin`` endpoint depends on this (401 without a
    valid key, 403 ``forbidden_scope`` with a verification key)."""
    token = bearer_token(request)
    if token is None:
        raise InvalidApiKey()
    return await api_keys.authenticate_scope(get_deps(request), token, ApiKeyScope.ADMIN)


async def _deps_dependency(request: Request) -> Deps:
    # Dependencies are async: FastAPI runs a plain ``def`` one on a thread pool, a
    # thread hop per request for no I/O at all.
    return get_deps(request)


async def _context_dependency(request: Request) -> RequestContext:
    return request_context(request)


DepsDep = Annotated[Deps, Depends(_deps_dependency)]
ContextDep = Annotated[RequestContext, Depends(_context_dependency)]
SessionDep = Annotated[Session, Depends(current_session)]
ApiKeyDep = Annotated[ApiKey, Depends(current_api_key)]
AdminKeyDep = Annotated[ApiKey, Depends(current_admin_key)]
