"""Your data: download everything held about you, or close the account.

Both need a recent code (the step-up page first, then back here); closing also needs
the password. The download is a form post (CSRF) answered with a JSON file.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from secinfo.domain.errors import DomainError, StepUpRequired
from secinfo.http import export_response, get_deps, request_context
from secinfo.services import data_rights
from secinfo.web.pages import (
    Form,
    PageSession,
    error_status,
    is_privileged,
    raw_field,
    render,
    signed_out,
    step_up_redirect,
)

router = APIRouter(prefix="/security/data", include_in_schema=False)
PAGE = "/security/data"


@router.get("")
async def data_page(request: Request, session: PageSession) -> Response:
    if not is_privileged(request, session):
        return step_up_redirect(PAGE)
    return await render(request, "data.html", session=session)


@router.post("/export")
async def download(request: Request, session: PageSession, form: Form) -> Response:
    try:
        document = await data_rights.export_mine(
            get_deps(request), session, request_context(request)
        )
    except StepUpRequired:
        return step_up_redirect(PAGE)
    return export_response(document)


@router.post("/close")
async def close(request: Request, session: PageSession, form: Form) -> Response:
    try:
        await data_rights.close_mine(
            get_deps(request), session, raw_field(form, "password"), request_context(request)
        )
    except StepUpRequired:
        return step_up_redirect(PAGE)
    except DomainError as error:
        return await render(
            request, "data.html", session=session, error=error, status=error_status(error)
        )
    return signed_out(request, "/sign-in?notice=account_closed")
