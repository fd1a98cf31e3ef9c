"""The development mailbox pages: what would have been sent. Development mode only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import escape

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


@router.get("/mailbox", response_class=HTMLResponse)
async def mailbox_html(request: Request) -> HTMLResponse:
    messages = await _mailbox(request).list_messages()
    rows = "".join(
        f"<article><h2>{escape(message.subject or 'SMS')}</h2>"
        f"<p class=meta>{escape(message.channel)} to <strong>{escape(message.to)}</strong>"
        f" at <time>{escape(message.created_at.isoformat(timespec='seconds'))}</time></p>"
        f"<pre>{escape(message.body)}</pre></article>"
        for message in messages
    )
    empty = "<p>No messages yet. Sign up or start a verification, then reload.</p>"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="5">
<title>Development mailbox - secinfo</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;
 color:#1b1b1b}}
article{{border:1px solid #ccc;border-radius:.5rem;padding:1rem;margin:1rem 0}}
h2{{font-size:1.1rem;margin:0}} .meta{{color:#555;margin:.25rem 0}}
pre{{white-space:pre-wrap;font-size:1rem;background:#f6f6f6;padding:.75rem}}
</style></head><body>
<h1>Development mailbox</h1>
<p>Messages secinfo would have sent by email or SMS, newest first. Development mode only.</p>
{rows or empty}
</body></html>"""
    return HTMLResponse(page)
