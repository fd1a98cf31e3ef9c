"""Server-rendered pages for the account holder, calling the same services as the API."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from secinfo.web.i18n import translator
from secinfo.web.pages import (
    SECURITY_HEADERS,
    STATIC_DIR,
    CsrfRejected,
    SignInRequired,
    is_page_path,
    redirect,
    render,
    step_up_redirect,
    with_next,
)

# When even the error page cannot be rendered: no template, no database, no secret.
BARE_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Something went '
    "wrong</title></head><body><main><h1>Something went wrong</h1><p>Something went "
    "wrong on our side; nothing was changed. Try again in a moment.</p>"
    '<p><a href="/">Go to the start page</a></p></main></body></html>'
)


def install(app: FastAPI, *, development: bool) -> None:
    """Mount the pages, their stylesheet and (in development) the mailbox page."""
    from secinfo.web import (
        account_pages,
        admin_pages,
        authenticator_pages,
        changes_pages,
        data_pages,
        mailbox_page,
        passkey_pages,
        recovery_pages,
        security_pages,
    )

    app.include_router(account_pages.router)
    app.include_router(authenticator_pages.router)  # before /security/verify/{id}
    app.include_router(passkey_pages.router)
    app.include_router(data_pages.router)  # before /security/{…}
    app.include_router(security_pages.router)
    app.include_router(changes_pages.router)
    app.include_router(recovery_pages.router)
    app.include_router(admin_pages.router)
    if development:
        app.include_router(mailbox_page.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, _: CsrfRejected) -> Response:
        return await render(
            request,
            "message.html",
            status=403,
            title=translator(request)._("This form has expired"),
            error=translator(request)._(
                "The form was missing its security token, or it came from another site. "
                "Go back, reload the page and try again."
            ),
        )

    @app.exception_handler(SignInRequired)
    async def sign_in_required(_: Request, error: SignInRequired) -> Response:
        return redirect(with_next("/sign-in", error.next_path))

    @app.exception_handler(admin_pages.OperatorStepUp)
    async def operator_step_up(_: Request, error: admin_pages.OperatorStepUp) -> Response:
        return step_up_redirect(error.next_path)

    _install_error_pages(app)


async def _answer(response: Response | Awaitable[Response]) -> Response:
    return await response if inspect.isawaitable(response) else response


def _install_error_pages(app: FastAPI) -> None:
    """Pages get HTML error pages; the API (and files, health, metrics) keeps its JSON
    errors: the handlers ``secinfo.api.errors`` installed answer everything else."""
    api_http_error = app.exception_handlers[StarletteHTTPException]
    api_unexpected = app.exception_handlers[Exception]
    api_invalid = app.exception_handlers[RequestValidationError]

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, error: RequestValidationError) -> Response:
        # On pages this comes from the edge's control-character check (forms are read
        # by the pages themselves): a person pasted something text cannot carry.
        if not is_page_path(request.url.path):
            return await _answer(api_invalid(request, error))
        return await render(
            request,
            "message.html",
            status=422,
            title=translator(request)._("Check what you typed"),
            text=translator(request)._(
                "A field holds a character that cannot be used here (a control or "
                "text-direction character, often pasted along with the text). Go back, "
                "type it again and send the form once more."
            ),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if not is_page_path(request.url.path):
            return await _answer(api_http_error(request, error))
        if error.status_code == 404:
            return await render(
                request,
                "message.html",
                status=404,
                title=translator(request)._("Page not found"),
                text=translator(request)._(
                    "There is no page at this address. It may have moved, or the link may "
                    "be incomplete."
                ),
            )
        response = await render(
            request,
            "message.html",
            status=error.status_code,
            title=translator(request)._("This page can't do that"),
            text=translator(request)._("Go back, reload the page and try again."),
        )
        response.headers.update(getattr(error, "headers", None) or {})
        return response

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> Response:
        answer = await _answer(api_unexpected(request, error))  # logs it
        if not is_page_path(request.url.path):
            return answer
        try:
            return await render(
                request,
                "message.html",
                status=500,
                title=translator(request)._("Something went wrong"),
                text=translator(request)._(
                    "Something went wrong on our side; nothing was changed. Try again in a moment."
                ),
            )
        except Exception:
            return HTMLResponse(BARE_500, status_code=500, headers=SECURITY_HEADERS)
