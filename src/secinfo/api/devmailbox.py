"""The development mailbox as JSON (the page is in ``secinfo.web``). Development only."""

from __future__ import annotations

from fastapi import APIRouter, Request

from secinfo.api.dependencies import get_app
from secinfo.domain.errors import NotFound

router = APIRouter(prefix="/dev", include_in_schema=False)


def _mailbox(request: Request):  # type: ignore[no-untyped-def]
    mailbox = get_app(request).mailbox
    if mailbox is None:
        raise NotFound("The development mailbox is off outside development mode.")
    return mailbox


@router.get("/mailbox.json")
async def mailbox_json(request: Request, to: str | None = None) -> dict[str, object]:
    messages = await _mailbox(request).list_messages(to)
    return {
        "messages": [
            {
                "id": message.id,
                "channel": message.channel,
                "to": message.to,
                "subject": message.subject,
                "body": message.body,
                "created_at": message.created_at.isoformat(),
            }
            for message in messages
        ]
    }
