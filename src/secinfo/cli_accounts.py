"""``secinfo accounts``: what an operator checks about accounts."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from secinfo.adapters.sql.accounts_admin import case_duplicates
from secinfo.cli_common import settings_or_exit, with_app
from secinfo.domain.contacts import mask

accounts_cli = typer.Typer(help="Accounts: checks for the operator.", no_args_is_help=True)
console = Console()


@accounts_cli.command("duplicates")
def duplicates() -> None:
    """Emails that two or more accounts hold under one case-folded form (a second account
    signed up as ``Case-User@x`` beside ``case-user@x`` before names were folded).
    Nothing is merged: decide with the holders which account stays. Exits 1 if any."""
    groups = with_app(settings_or_exit(), lambda app: case_duplicates(app.engine))
    if not groups:
        console.print("No email is held by more than one account.")
        return
    table = Table("mailbox (masked)", "account", "status", "spelling (masked)", "item", "state")
    for group in groups:
        for index, holder in enumerate(group.holders):
            table.add_row(
                mask("email", group.key) if index == 0 else "",
                holder.account_id,
                holder.account_status,
                mask("email", holder.value),
                holder.item_id,
                holder.state + (", sign-in name" if holder.sign_in else ""),
            )
    console.print(table)
    console.print(
        f"{len(groups)} mailbox(es) held by more than one account. Each account keeps "
        "signing in with its own spelling; other spellings reach the oldest."
    )
    raise typer.Exit(1)
