"""``secinfo operator``: which accounts may use the operator pages (/admin)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from secinfo.cli.common import settings_or_exit, with_app
from secinfo.services import operators

operator_cli = typer.Typer(
    help="Operator accounts: who may use the operator pages under /admin.",
    no_args_is_help=True,
)
console = Console()


@operator_cli.command("create")
def create(
    sign_in_name: str = typer.Argument(
        ..., help="The sign-in name (email or phone) of an existing, verified account."
    ),
) -> None:
    """Let an existing, verified account use the operator pages. It signs in as usual,
    then opens /admin; every visit needs a code (step-up) from the last 10 minutes."""
    operator, added = with_app(
        settings_or_exit(), lambda app: operators.create(app.deps, sign_in_name)
    )
    if not added:
        console.print(f"{operator.name} ({operator.account_id}) is an operator already.")
        return
    console.print(
        f"{operator.name} ({operator.account_id}) is now an operator: sign in with it and "
        "open /admin."
    )


@operator_cli.command("remove")
def remove(
    account: str = typer.Argument(..., help="The operator's sign-in name or account id."),
) -> None:
    """Take the operator pages away from an account (the account itself stays)."""
    operator = with_app(settings_or_exit(), lambda app: operators.remove(app.deps, account))
    console.print(f"{operator.name} ({operator.account_id}) is no longer an operator.")


@operator_cli.command("list")
def list_operators() -> None:
    """Every operator account (sign-in names masked)."""
    found = with_app(settings_or_exit(), lambda app: operators.list_operators(app.deps))
    if not found:
        console.print("No account is an operator; add one with 'secinfo operator create'.")
        return
    table = Table("account", "sign-in name", "operator since")
    for operator in found:
        table.add_row(
            operator.account_id, operator.name, operator.since.isoformat(timespec="seconds")
        )
    console.print(table)
