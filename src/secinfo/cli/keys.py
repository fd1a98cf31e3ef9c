"""``secinfo keys``: what an operator does after rotating the encryption keys."""

from __future__ import annotations

import typer
from rich.console import Console

from secinfo.adapters.sql.reseal import reseal
from secinfo.cli.common import settings_or_exit, with_app

keys_cli = typer.Typer(help="Encryption keys: re-seal after a rotation.", no_args_is_help=True)
console = Console()


@keys_cli.command("reseal")
def keys_reseal() -> None:
    """Re-seal every value sealed with an older key (contacts, secrets, code bodies) under
    the first key of SECINFO_ENCRYPTION_KEYS; afterwards the older keys can be dropped.
    Safe to run again, and while the service runs."""
    counts = with_app(settings_or_exit(), lambda app: reseal(app.engine, app.box))
    for name, count in counts.items():
        console.print(f"{name}: {count} re-sealed")
    console.print(f"Re-sealed {sum(counts.values())} values with the first key.")
