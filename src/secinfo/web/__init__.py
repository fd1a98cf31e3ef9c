"""Server-rendered pages for the account holder, calling the same services as the API."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from secinfo.web.pages import (
    STATIC_DIR,
    CsrfRejected,
    SignInRequired,
    redirect,
    render,
    with_next,
)


def install(app: FastAPI, *, development: bool) -> None:
    """Mount the pages, their stylesheet and (in development) the mailbox page."""
    from secinfo.web import account_pages, changes_pages, mailbox_page, security_pages

    app.include_router(account_pages.router)
    app.include_router(security_pages.router)
    app.include_router(changes_pages.router)
    if development:
        app.include_router(mailbox_page.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, _: CsrfRejected) -> Response:
        return await render(
            request,
            "message.html",
            status=403,
            title="This form has expired",
            error=(
                "The form was missing its security token, or it came from another site. "
                "Go back, reload the page and try again."
            ),
        )

    @app.exception_handler(SignInRequired)
    async def sign_in_required(_: Request, error: SignInRequired) -> Response:
        return redirect(with_next("/sign-in", error.next_path))
