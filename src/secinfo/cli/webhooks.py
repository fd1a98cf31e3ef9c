"""``secinfo webhooks``: endpoints that receive signed events (Standard Webhooks)."""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from secinfo.bootstrap import App
from secinfo.cli.common import console, settings_or_exit, with_app
from secinfo.domain.webhooks import WebhookEndpoint
from secinfo.services import webhooks

webhooks_cli = typer.Typer(
    help="Webhook endpoints: add, list, disable, enable, test, deliveries, redeliver.",
    no_args_is_help=True,
)
T = TypeVar("T")


def _run(action: Callable[[App], Awaitable[T]]) -> T:
    return with_app(settings_or_exit(), action)


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _print_endpoint(endpoint: WebhookEndpoint) -> None:
    console.print(f"Endpoint [bold]{endpoint.id}[/bold] → {endpoint.url}")
    console.print(f"  events: {', '.join(endpoint.events)}")
    status = endpoint.status.value
    if endpoint.disabled_reason:
        status += f" ({endpoint.disabled_reason})"
    console.print(f"  status: {status}")


def _print_secret(secret: str) -> None:
    console.print("Signing secret (shown once; receivers verify signatures with it):")
    # The secret alone on stdout, so a script can capture it.
    sys.stdout.write(secret + "\n")
    sys.stdout.flush()


@webhooks_cli.command(
    "add", context_settings={"allow_extra_args": True, "ignore_unknown_options": False}
)
def webhooks_add(
    context: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to POST events (https://…).")],
    events: Annotated[
        list[str],
        typer.Option(
            "--events",
            help="Event types or prefixes: account:security_info:added, "
            "'account:security_info:*', '*'. Several after one --events, or repeated.",
        ),
    ],
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
) -> None:
    """Register an endpoint; prints its whsec_ signing secret once."""
    patterns = [*events, *context.args]
    created = _run(lambda app: webhooks.create(app.deps, url, patterns, description))
    _print_endpoint(created.endpoint)
    _print_secret(created.secret)
    console.print("Store it now: it cannot be shown again.", style="yellow")


@webhooks_cli.command("list")
def webhooks_list() -> None:
    """Every endpoint (never its secret)."""
    endpoints = _run(lambda app: webhooks.list_endpoints(app.deps))
    table = Table("id", "url", "events", "status", "created")
    for endpoint in endpoints:
        status = endpoint.status.value
        if endpoint.disabled_reason:
            status += f": {endpoint.disabled_reason}"
        table.add_row(
            endpoint.id, endpoint.url, " ".join(endpoint.events), status, _when(endpoint.created_at)
        )
    console.print(table)


@webhooks_cli.command("disable")
def webhooks_disable(endpoint_id: str) -> None:
    """Stop sending to an endpoint (events from now on are not queued for it)."""
    endpoint = _run(lambda app: webhooks.disable(app.deps, endpoint_id))
    _print_endpoint(endpoint)


@webhooks_cli.command("enable")
def webhooks_enable(endpoint_id: str) -> None:
    """Send to a disabled endpoint again (dead deliveries can then be redelivered)."""
    endpoint = _run(lambda app: webhooks.update(app.deps, endpoint_id, enabled=True))
    _print_endpoint(endpoint)


@webhooks_cli.command("remove")
def webhooks_remove(endpoint_id: str) -> None:
    """Delete an endpoint; its queued deliveries end."""
    _run(lambda app: webhooks.delete(app.deps, endpoint_id))
    console.print(f"Removed {endpoint_id}.")


@webhooks_cli.command("test")
def webhooks_test(endpoint_id: str) -> None:
    """Queue a webhook.test event to this endpoint; a worker delivers it."""
    delivery = _run(lambda app: webhooks.send_test(app.deps, endpoint_id))
    console.print(f"Queued {delivery.event_type} as {delivery.id} (see: webhooks deliveries).")


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if not match:
        raise typer.BadParameter("use a number and d, h or m, like 24h or 0h")
    amount = int(match[1])
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount)}.get(
        match[2], timedelta(minutes=amount)
    )


@webhooks_cli.command("rotate-secret")
def webhooks_rotate(
    endpoint_id: str,
    overlap: Annotated[
        str | None,
        typer.Option(help="How long the old secret keeps signing too, like 24h (default) or 0h."),
    ] = None,
) -> None:
    """A new signing secret (printed once); the old one also signs during the overlap."""
    period = _duration(overlap) if overlap is not None else None
    rotated = _run(lambda app: webhooks.rotate_secret(app.deps, endpoint_id, period))
    _print_secret(rotated.secret)
    until = rotated.endpoint.previous_secret_expires_at
    console.print(
        f"The previous secret signs too until {_when(until)}."
        if until
        else "The previous secret no longer signs."
    )


@webhooks_cli.command("deliveries")
def webhooks_deliveries(
    endpoint_id: str,
    status: Annotated[str | None, typer.Option(help="queued, failed, sent, dead…")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """An endpoint's deliveries, newest first, with every attempt."""
    found = _run(lambda app: webhooks.deliveries(app.deps, endpoint_id, limit, status))
    table = Table("delivery (webhook-id)", "event", "status", "attempts", "created", "last")
    for delivery in found:
        last = delivery.attempt_log[-1] if delivery.attempt_log else None
        table.add_row(
            delivery.id,
            delivery.event_type,
            delivery.status,
            str(delivery.attempts),
            _when(delivery.created_at),
            (last.response or last.error or last.outcome) if last else "-",
        )
    console.print(table)
    for delivery in found:
        for attempt in delivery.attempt_log:
            console.print(
                f"  {delivery.id} #{attempt.attempt} {_when(attempt.finished_at)} "
                f"{attempt.outcome}: {attempt.response or attempt.error or '-'}"
            )


@webhooks_cli.command("redeliver")
def webhooks_redeliver(endpoint_id: str, delivery_id: str) -> None:
    """Send a dead (or failed) delivery again, with the same webhook-id."""
    _run(lambda app: webhooks.redeliver(app.deps, endpoint_id, delivery_id))
    console.print(f"Queued {delivery_id} again.")
