"""The development mailbox page: what would have been sent. Development mode only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from secinfo.http import get_app
from secinfo.web.pages import render

router = APIRouter(prefix="/dev", include_in_schema=False)


@router.get("/mailbox")
async def mailbox_page(request: Request) -> Response:
    mailbox = get_app(request).mailbox
    to = (request.query_params.get("to") or "").strip()[:320]
    messages = await mailbox.list_messages(to or None) if mailbox is not None else []
    return await render(request, "mailbox.html", messages=messages, to=to)
