"""``secinfo fraud``: SMS destination prefixes blocked by the pumping guard."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from secinfo.cli.common import settings_or_exit, with_app
from secinfo.services import fraud

fraud_cli = typer.Typer(
    help="SMS-pumping guard: list and lift blocked prefixes.", no_args_is_help=True
)
console = Console()


@fraud_cli.command("list")
def list_blocks() -> None:
    """Prefixes blocked now, with the sends and completions that tripped the guard."""
    blocks = with_app(settings_or_exit(), lambda app: fraud.blocked(app.deps))
    table = Table("prefix", "country", "blocked at", "until", "sends", "completed")
    for block in blocks:
        table.add_row(
            block.prefix,
            block.country,
            block.blocked_at.isoformat(timespec="seconds"),
            block.until.isoformat(timespec="seconds"),
            str(block.sends),
            str(block.conversions),
        )
    console.print(table if blocks else "No prefix is blocked.")


@fraud_cli.command("unblock")
def unblock(prefix: str) -> None:
    """Lift the block on PREFIX (as 'fraud list' shows it)."""
    with_app(settings_or_exit(), lambda app: fraud.unblock(app.deps, prefix))
    console.print(f"Lifted the block on {prefix}.")
