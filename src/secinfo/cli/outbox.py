"""``secinfo outbox``: see and steer delivery (list, show, retry, purge). No bodies shown."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from secinfo.adapters.sql.outbox_admin import FINAL, SqlOutboxAdmin
from secinfo.cli.common import settings_or_exit, with_app

outbox_cli = typer.Typer(
    help="The delivery outbox: list, show, retry, purge.", no_args_is_help=True
)
console = Console()
T = TypeVar("T")


def _admin(action: Callable[[SqlOutboxAdmin, datetime], Awaitable[T]]) -> T:
    """Run ``action`` with the outbox admin and the time now, from the app's clock."""
    return with_app(
        settings_or_exit(), lambda app: action(SqlOutboxAdmin(app.engine), app.deps.clock.now())
    )


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _age(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if not match:
        raise typer.BadParameter("use a number and d, h or m, like 30d or 12h")
    amount, unit = int(match[1]), match[2]
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount)}.get(
        unit, timedelta(minutes=amount)
    )


@outbox_cli.command("list")
def outbox_list(
    status: Annotated[str | None, typer.Option(help="queued, sending, sent, failed, dead…")] = None,
    channel: Annotated[str | None, typer.Option(help="email, sms or webhook")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """The newest messages (destinations masked), and how many are in each status."""
    counts = _admin(lambda admin, _now: admin.counts())
    messages = _admin(
        lambda admin, _now: admin.list_messages(status=status, channel=channel, limit=limit)
    )
    console.print(
        "  ".join(f"{name}: {count}" for name, count in sorted(counts.items())) or "empty"
    )
    table = Table("id", "channel", "to", "template", "status", "attempts", "created", "last error")
    for message in messages:
        table.add_row(
            message.id,
            message.channel,
            message.destination,
            message.template,
            message.status,
            str(message.attempts),
            _when(message.created_at),
            message.last_error or "-",
        )
    console.print(table)


@outbox_cli.command("show")
def outbox_show(message_id: str) -> None:
    """One message and every attempt to deliver it."""
    found = _admin(lambda admin, _now: admin.get(message_id))
    if found is None:
        console.print(f"[red]No message {message_id}.[/red]")
        raise typer.Exit(1)
    message, attempts = found
    rows = {
        "id": message.id,
        "channel": message.channel,
        "to": message.destination,
        "template / locale": f"{message.template} / {message.locale}",
        "subject": message.subject or "-",
        "body": message.body_state,
        "status": message.status,
        "attempts": str(message.attempts),
        "created": _when(message.created_at),
        "next attempt": _when(message.next_attempt_at),
        "code expires": _when(message.expires_at),
        "leased by": f"{message.worker_id or '-'} until {_when(message.lease_until)}",
        "sent": _when(message.sent_at),
        "provider id": message.provider_message_id or "-",
        "verification": message.verification_id or "-",
        "last error": message.last_error or "-",
    }
    for name, value in rows.items():
        console.print(f"{name:>18}  {value}")
    table = Table("#", "worker", "started", "finished", "outcome", "provider id / error")
    for attempt in attempts:
        table.add_row(
            str(attempt.attempt),
            attempt.worker_id or "-",
            _when(attempt.started_at),
            _when(attempt.finished_at),
            attempt.outcome,
            attempt.provider_message_id or attempt.error or "-",
        )
    console.print(table)


@outbox_cli.command("retry")
def outbox_retry(
    message_ids: Annotated[list[str] | None, typer.Argument(help="Message ids.")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead message.")] = False,
) -> None:
    """Queue dead or failed messages again, now, with a fresh attempt budget."""

    async def retry(admin: SqlOutboxAdmin, now: datetime) -> tuple[list[str], dict[str, str]]:
        ids = list(message_ids or [])
        if all_dead:
            ids += await admin.dead_ids()
        result = await admin.retry(list(dict.fromkeys(ids)), now)
        return result.requeued, result.refused

    if not message_ids and not all_dead:
        console.print("[red]Name message ids, or --all-dead.[/red]")
        raise typer.Exit(2)
    requeued, refused = _admin(retry)
    console.print(f"Queued again: {len(requeued)}")
    for message_id, reason in refused.items():
        console.print(f"[yellow]Not retried {message_id}: {reason}[/yellow]")
    if refused and not requeued:
        raise typer.Exit(1)


@outbox_cli.command("purge")
def outbox_purge(
    older_than: Annotated[str, typer.Option(help="Age, like 30d, 12h or 90m.")] = "30d",
    status: Annotated[
        list[str] | None, typer.Option(help="Which ended statuses (default: all ended).")
    ] = None,
) -> None:
    """Delete ended messages (sent, dead, expired) older than the given age."""
    statuses = tuple(status or FINAL)
    wrong = [name for name in statuses if name not in FINAL]
    if wrong:
        console.print(f"[red]Only ended messages can be purged ({', '.join(FINAL)}).[/red]")
        raise typer.Exit(2)
    age = _age(older_than)

    async def purge(admin: SqlOutboxAdmin, now: datetime) -> tuple[int, datetime]:
        return await admin.purge(now - age, statuses), now - age

    deleted, before = _admin(purge)
    console.print(f"Purged {deleted} messages created before {_when(before)}.")
