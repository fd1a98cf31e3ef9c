"""``secinfo twilio-credentials``: Account SID and auth token for the Twilio-compatible API."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from secinfo.cli.common import console, settings_or_exit, with_app
from secinfo.services import verify_services

twilio_cli = typer.Typer(
    help="Credentials for the Twilio Verify v2-compatible API (/twilio/v2).",
    no_args_is_help=True,
)


@twilio_cli.command("create")
def create(name: str) -> None:
    """Create an Account SID and auth token; the token is printed once, stored as a hash."""
    settings = settings_or_exit()
    created = with_app(settings, lambda app: verify_services.create_credentials(app.deps, name))
    console.print(f"Twilio-compatible credentials [bold]{created.account.name}[/bold]:")
    # Each whole on its own line on stdout, so scripts can capture them.
    sys.stdout.write(created.account.sid + "\n")
    sys.stdout.write(created.auth_token + "\n")
    sys.stdout.flush()
    console.print(
        "First line: Account SID; second: auth token. Store the token now: it cannot be "
        f"shown again. Base URL for the SDKs: {settings.base_url}/twilio",
        style="yellow",
    )


@twilio_cli.command("list")
def list_credentials() -> None:
    """List credentials (never the tokens)."""
    settings = settings_or_exit()
    accounts = with_app(settings, lambda app: verify_services.list_credentials(app.deps))
    table = Table("account sid", "name", "created", "last used", "revoked")
    for account in accounts:
        table.add_row(
            account.sid,
            account.name,
            account.created_at.isoformat(timespec="seconds"),
            account.last_used_at.isoformat(timespec="seconds") if account.last_used_at else "-",
            account.revoked_at.isoformat(timespec="seconds") if account.revoked_at else "-",
        )
    console.print(table)


@twilio_cli.command("revoke")
def revoke(account_sid: str) -> None:
    """Revoke credentials by Account SID; calls with them are refused from now on."""
    settings = settings_or_exit()
    revoked = with_app(
        settings, lambda app: verify_services.revoke_credentials(app.deps, account_sid)
    )
    console.print(f"Revoked {revoked.sid} ({revoked.name}).")
