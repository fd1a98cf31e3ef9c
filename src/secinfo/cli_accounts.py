"""``secinfo accounts``: what an operator checks about accounts."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from secinfo.adapters.sql.accounts_admin import case_duplicates
from secinfo.cli_common import settings_or_exit, with_app
from secinfo.domain.contacts import mask
from secinfo.services import data_rights

accounts_cli = typer.Typer(
    help="Accounts: checks, data export and erasure for the operator.", no_args_is_help=True
)
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


@accounts_cli.command("export")
def export(
    account_id: str = typer.Argument(..., help="The account's id (acc_…)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the JSON to this file instead of the terminal."
    ),
) -> None:
    """Everything held about one account, as the JSON document the holder downloads
    (contact values in full, never a secret): for a data-protection request."""
    document = with_app(
        settings_or_exit(), lambda app: data_rights.export_account(app.deps, account_id, by="cli")
    )
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    console.print(f"Wrote the export of {account_id} to {output}.")


@accounts_cli.command("erase")
def erase(
    account_id: str = typer.Argument(..., help="The account's id (acc_…)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Erase one account's personal data now, without a grace period: contact values
    become keyed hashes, names, IPs, user agents and message bodies go, activity stays
    anonymous. Cannot be undone; running it again changes nothing."""
    if not yes:
        typer.confirm(
            f"Erase every personal detail of {account_id} now? This cannot be undone",
            abort=True,
        )
    result = with_app(
        settings_or_exit(), lambda app: data_rights.erase_account(app.deps, account_id, by="cli")
    )
    if not result.erased:
        console.print(f"{account_id} was already erased; nothing changed.")
        return
    touched = ", ".join(f"{table} {count}" for table, count in result.rows.items() if count)
    console.print(f"Erased {account_id} (rows: {touched or 'none'}).")
