"""The ASGI application: JSON API under /v1, pages, health, metrics, dev mailbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from secinfo import __version__, metrics, twilio, web
from secinfo.api import (
    accounts,
    admin_accounts,
    admin_data_rights,
    admin_webhooks,
    data_rights,
    devmailbox,
    errors,
    openapi,
    passkeys,
    recovery,
    signin,
    verifications,
    waiting,
)
from secinfo.api.clean_input import refuse_control_characters
from secinfo.api.fast_verify import FastVerifyPath, read_body, replaying
from secinfo.bootstrap import App
from secinfo.domain.errors import Overloaded
from secinfo.ports import PasswordHasher
from secinfo.runtime import tune_garbage_collector
from secinfo.scheduler import JobLoop
from secinfo.worker import DeliveryLoop

MAX_BODY_BYTES = 64 * 1024


class RefuseSignInsWhenOverloaded:
    """``POST /v1/sessions`` answers 503 ``overloaded`` before any framework work while the
    password pool could not start another hash in time: the same answer the sign-in
    service gives then (its check, its error table), at a fraction of the cost, so a
    rush's refusals cannot starve the sign-ins that were admitted, health checks and
    verifications.

    The refusal reaches the client whole at once (its length is declared), but its
    connection takes no next request for ``HOLD_SECONDS``: a client that ignores
    ``Retry-After`` and asks again at once gets its next answer that much later, so a
    crowd of them can no longer spend the event loop on refusals (256 such clients on
    2 cores: refusals halved, admitted sign-ins' p99 2.6 → 1.1 to 1.4 s, ``/healthz`` p99
    107 → 26 to 44 ms; ``bench/RESULTS.md``). A client that waits as told never notices.
    """

    PATHS = frozenset({"/v1/sessions"})
    HOLD_SECONDS = 0.05

    def __init__(self, app: ASGIApp, passwords: PasswordHasher) -> None:
        self.app = app
        self.passwords = passwords

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.PATHS:
            try:
                self.passwords.refuse_if_busy()
            except Overloaded as error:
                await self._refuse(error, send)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, error: Overloaded, send: Send) -> None:
        response = errors.domain_error_response(error)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        # The whole body now; the response ends (and the server reads the connection's
        # next request) after the hold. A client gone meanwhile is no error: the server
        # drops what is sent after a disconnect.
        await send({"type": "http.response.body", "body": response.body, "more_body": True})
        await asyncio.sleep(self.HOLD_SECONDS)
        await send({"type": "http.response.body", "body": b""})


class BodyLimit:
    """Refuse request bodies over the limit, whether or not they declare a length."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        # Read the whole body first (it is small by definition), then replay it.
        read = await read_body(receive, self.limit)
        if read is None:
            return  # the client went away
        body, _ = read
        if len(body) > self.limit:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {
                "error": {
                    "code": "body_too_large",
                    "message": f"The request body is larger than {self.limit // 1024} KiB.",
                }
            },
            status_code=413,
        )
        await response(scope, receive, send)


def create_app(secinfo: App, *, run_delivery: bool = False, fast_paths: bool = True) -> FastAPI:
    """The HTTP service. ``run_delivery`` runs the outbox delivery loop in this process;
    ``fast_paths=False`` leaves every request to the framework (tests compare the two)."""
    loop_holder: dict[str, DeliveryLoop] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tune_garbage_collector()
        if run_delivery:
            # No gathering here: this loop's wake-ups come from this process's requests
            # and already coalesce within a turn of the event loop; waiting on top only
            # delays the codes (measured: 10 to 20 % fewer verify pairs a second at c=32).
            loop = DeliveryLoop(
                secinfo.deliverer, idle_seconds=secinfo.settings.delivery_poll_seconds
            )
            secinfo.deps.outbox_wakeup = loop.wake
            loop.start()
            loop_holder["loop"] = loop
            jobs = JobLoop(secinfo.deps, secinfo.settings.jobs_interval_seconds)
            jobs.start()
        try:
            yield
        finally:
            if "loop" in loop_holder:
                await jobs.stop()
                await loop_holder.pop("loop").stop()
            await secinfo.close()

    app = FastAPI(
        title="secinfo",
        version=__version__,
        description="Security info, verification codes, step-up and recovery.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_control_characters)],
    )
    install_api_reference(app)
    openapi.install(app)
    app.state.secinfo = secinfo
    errors.install(app)
    app.include_router(accounts.router)
    app.include_router(passkeys.router)
    app.include_router(data_rights.router)
    app.include_router(admin_accounts.router)
    app.include_router(admin_data_rights.router)
    app.include_router(signin.router)
    app.include_router(waiting.router)
    app.include_router(recovery.router)
    app.include_router(verifications.router)
    app.include_router(admin_webhooks.router)
    if secinfo.settings.is_development:
        app.include_router(devmailbox.router)
    web.install(app, development=secinfo.settings.is_development)
    twilio.install(app, secinfo)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request) -> JSONResponse:
        try:
            async with secinfo.engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except Exception:
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable"}, status_code=503
            )
        return JSONResponse({"status": "ready", "database": "ok"})

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    app.add_middleware(BodyLimit)
    app.add_middleware(RefuseSignInsWhenOverloaded, passwords=secinfo.deps.passwords)
    app.add_middleware(FastVerifyPath, api=app, body_limit=MAX_BODY_BYTES, enabled=fast_paths)
    return app


def install_api_reference(app: FastAPI) -> None:
    """``/docs``: Swagger UI from a vendored copy (``api/static/swagger-ui``), no CDN."""
    from pathlib import Path

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse, RedirectResponse
    from fastapi.staticfiles import StaticFiles

    app.mount(
        "/docs/assets",
        StaticFiles(directory=Path(__file__).parent / "static" / "swagger-ui"),
        name="api-reference-assets",
    )

    @app.get("/docs", include_in_schema=False)
    async def api_reference() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="secinfo API reference",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> RedirectResponse:
        return RedirectResponse("/docs", status_code=308)
