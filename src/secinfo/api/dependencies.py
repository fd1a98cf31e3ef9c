"""Request-scoped helpers: the app's services, who is calling, from where."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from secinfo.domain.errors import InvalidApiKey, Unauthenticated
from secinfo.domain.model import ApiKey, ApiKeyScope, RequestContext, Session
from secinfo.http import (
    DEVICE_COOKIE,
    DEVICE_HEADER,
    SESSION_COOKIE,
    DepsDep,
    get_app,
    get_deps,
    request_context,
)
from secinfo.services import accounts, api_keys

__all__ = [
    "DEVICE_COOKIE",
    "DEVICE_HEADER",
    "SESSION_COOKIE",
    "ApiKeyDep",
    "ContextDep",
    "DepsDep",
    "SessionDep",
    "get_app",
    "get_deps",
    "request_context",
]


def bearer_token(request: Request) -> str | None:
    return bearer_from(request.headers.get("authorization"))


def bearer_from(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


# The schemes only describe the API (OpenAPI ``securitySchemes``); the dependencies
# below read the header (and the pages' cookie) themselves, for their own error bodies.
SESSION = "session"
API_KEY = "apiKey"
ADMIN_KEY = "adminKey"
_session_scheme = HTTPBearer(
    auto_error=False,
    scheme_name=SESSION,
    description="A session token from `POST /v1/sessions` or a confirmed sign-up.",
)
_admin_key_scheme = HTTPBearer(
    auto_error=False,
    scheme_name=ADMIN_KEY,
    description="An operator's API key from `secinfo apikey create NAME --scope admin`.",
)
_api_key_scheme = HTTPBearer(
    auto_error=False,
    scheme_name=API_KEY,
    description="An integrator's API key from `secinfo apikey create` (`sik_…`).",
)


async def current_session(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_session_scheme)] = None,
) -> Session:
    token = bearer_token(request)
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
    if token is None:
        raise Unauthenticated()
    return await accounts.authenticate(get_deps(request), token)


async def current_api_key(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_api_key_scheme)] = None,
) -> ApiKey:
    """A verification-scoped key (the Verify API)."""
    token = bearer_token(request)
    if token is None:
        raise InvalidApiKey()
    return await api_keys.authenticate_scope(get_deps(request), token, ApiKeyScope.VERIFICATION)


async def current_admin_key(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_admin_key_scheme)] = None,
) -> ApiKey:
    """An admin-scoped key: every ``/v1/admin`` endpoint depends on this (401 without a
    valid key, 403 ``forbidden_scope`` with a verification key)."""
    token = bearer_token(request)
    if token is None:
        raise InvalidApiKey()
    return await api_keys.authenticate_scope(get_deps(request), token, ApiKeyScope.ADMIN)


async def _context_dependency(request: Request) -> RequestContext:
    return request_context(request)


ContextDep = Annotated[RequestContext, Depends(_context_dependency)]
SessionDep = Annotated[Session, Depends(current_session)]
ApiKeyDep = Annotated[ApiKey, Depends(current_api_key)]
AdminKeyDep = Annotated[ApiKey, Depends(current_admin_key)]
