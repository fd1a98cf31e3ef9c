"""What every HTTP front end (``api/``, ``web/``, ``twilio/``) shares: the app's services
for a request, and who is calling from where. Front ends import this, never each other.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from secinfo.bootstrap import App
from secinfo.domain.model import RequestContext
from secinfo.services.deps import Deps

SESSION_COOKIE = "secinfo_session"
DEVICE_COOKIE = "secinfo_device"
DEVICE_HEADER = "x-device-token"


def get_app(request: Request) -> App:
    app: App = request.app.state.secinfo
    return app


def get_deps(request: Request) -> Deps:
    return get_app(request).deps


def client_ip(request: Request) -> str | None:
    """The end user's address, which the per-client limits count."""
    return request.client.host if request.client else None


def request_context(request: Request) -> RequestContext:
    language = request.headers.get("accept-language", "")
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
