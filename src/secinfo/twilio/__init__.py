"""A Twilio Verify v2-compatible front end at ``/twilio/v2/…``.

A Twilio user changes one line, the SDK's base URL (``client.verify.base_url =
"<origin>/twilio"``), and the official SDKs work unchanged. It is its own ASGI app, mounted
on the main one, so that its errors have Twilio's shape and its OpenAPI description
(``/twilio/openapi.json``) is Twilio's resources only.
"""

from __future__ import annotations

from fastapi import FastAPI

from secinfo import __version__
from secinfo.bootstrap import App
from secinfo.twilio import errors, routes

PREFIX = "/twilio"


def create_app(secinfo: App) -> FastAPI:
    app = FastAPI(
        title="secinfo: Twilio Verify v2-compatible API",
        version=__version__,
        description=(
            "Twilio's Verify v2 wire protocol (form-encoded requests, Twilio's JSON and "
            "error codes) over secinfo's verifications. Authenticate with HTTP Basic "
            "AccountSid:AuthToken from `secinfo twilio-credentials create`."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        servers=[{"url": PREFIX}],
        root_path_in_servers=False,
    )
    app.state.secinfo = secinfo
    errors.install(app)
    app.include_router(routes.router)
    return app


def install(app: FastAPI, secinfo: App) -> None:
    app.mount(PREFIX, create_app(secinfo))
