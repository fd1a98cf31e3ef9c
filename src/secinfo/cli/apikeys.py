"""``secinfo apikey``: integrators' and operators' API keys."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from secinfo.cli.common import console, settings_or_exit, with_app
from secinfo.domain.model import ApiKeyScope
from secinfo.services import api_keys

apikey_cli = typer.Typer(help="API keys: integrators' and operators'.", no_args_is_help=True)


@apikey_cli.command("create")
def apikey_create(
    name: str,
    scope: Annotated[
        ApiKeyScope,
        typer.Option(help="verification: the Verify API; admin: the admin API (/v1/admin)."),
    ] = ApiKeyScope.VERIFICATION,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    settings = settings_or_exit()
    created = with_app(settings, lambda app: api_keys.create(app.deps, name, scope))
    console.print(
        f"API key [bold]{created.api_key.name}[/bold] ({created.api_key.id}) with scope "
        f"{created.api_key.scope.value}:"
    )
    # The key itself goes to stdout alone so scripts can capture it.
    sys.stdout.write(created.key + "\n")
    sys.stdout.flush()
    console.print("Store it now: it cannot be shown again.", style="yellow")


@apikey_cli.command("list")
def apikey_list() -> None:
    """List API keys (never the keys themselves)."""
    settings = settings_or_exit()
    keys = with_app(settings, lambda app: api_keys.list_keys(app.deps))
    table = Table("id", "name", "scope", "prefix", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            key.scope.value,
            key.prefix + "…",
            key.created_at.isoformat(timespec="seconds"),
            key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "-",
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-",
        )
    console.print(table)


@apikey_cli.command("revoke")
def apikey_revoke(api_key_id: str) -> None:
    """Revoke an API key by id; calls with it are refused from now on."""
    settings = settings_or_exit()
    revoked = with_app(settings, lambda app: api_keys.revoke(app.deps, api_key_id))
    console.print(f"Revoked {revoked.id} ({revoked.name}).")
