"""``secinfo accounts``: what an operator checks about accounts."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from secinfo.adapters.sql.accounts_admin import case_duplicates
from secinfo.cli.common import settings_or_exit, with_app
from secinfo.domain.contacts import mask
from secinfo.domain.dates import format_moment
from secinfo.services import admin_accounts, data_rights
from secinfo.services.admin_accounts import Operator

accounts_cli = typer.Typer(
    help="Accounts: checks, data export and erasure, locks and other operator actions.",
    no_args_is_help=True,
)
console = Console()


@accounts_cli.command("duplicates")
def duplicates() -> None:
    """Emails that two or more accounts hold under one case-folded form (a second account
    signed up as ``Case-User@x`` beside ``case-user@x`` before names were folded).
    Nothing is merged: decide with the holders which account stays. Exits 1 if any."""
    groups = with_app(settings_or_exit(), lambda app: case_duplicates(app.engine, app.box))
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


# -- an operator's actions (the admin API's twins) --------------------------------------------
OPERATOR_OPTION = typer.Option(
    "cli", "--operator", help="Who acts, as the account's activity names it (default 'cli')."
)


def _show(view: admin_accounts.AdminAccountView) -> None:
    console.print(f"[bold]{view.id}[/bold]  status {view.status.value}")
    if view.lock is not None:
        reason = f": {view.lock.reason}" if view.lock.reason else ""
        console.print(
            f"LOCKED since {format_moment(view.lock.locked_at)} by {view.lock.by}{reason}"
        )
    console.print(
        f"2-step {'on' if view.two_step_enabled else 'off'}; new password required: "
        f"{'yes' if view.password_reset_required else 'no'}; live sessions: "
        f"{view.live_sessions}; last sign-in: "
        f"{format_moment(view.last_sign_in_at) if view.last_sign_in_at else 'never'}"
    )
    if view.pending_change is not None:
        change = view.pending_change
        console.print(
            f"Pending change {change.id} ({change.kind.value}) waits until "
            f"{format_moment(change.ends_at)}."
        )
    table = Table("security info (masked)", "kind", "state", "sign-in name", "label")
    for item in view.security_info:
        table.add_row(
            item.masked,
            item.kind.value,
            item.state.value,
            "yes" if item.sign_in else "",
            item.label or "",
        )
    console.print(table)
    events = Table("recent activity", "when", "outcome", "by")
    for event in view.recent_activity:
        events.add_row(
            event.type,
            format_moment(event.created_at),
            event.outcome,
            str(event.details.get("operator_name") or event.details.get("by") or ""),
        )
    console.print(events)


@accounts_cli.command("find")
def find(
    sign_in_name: str = typer.Argument(..., help="An email or phone number, as typed."),
) -> None:
    """The account a sign-in with this name reaches (matched like sign-in). Exits 1 if
    there is none."""
    found = with_app(settings_or_exit(), lambda app: admin_accounts.search(app.deps, sign_in_name))
    if not found:
        console.print("No account signs in with that name.")
        raise typer.Exit(1)
    for summary in found:
        console.print(
            f"{summary.id}  {summary.status.value}{', locked' if summary.locked else ''}  "
            f"{', '.join(summary.sign_in_names)}"
        )


@accounts_cli.command("show")
def show(account_id: str = typer.Argument(..., help="The account's id (acc_…).")) -> None:
    """Status, sign-in names and security info (masked), 2-step, the pending change, the
    last sign-in and recent activity."""
    _show(with_app(settings_or_exit(), lambda app: admin_accounts.view(app.deps, account_id)))


@accounts_cli.command("lock")
def lock(
    account_id: str = typer.Argument(..., help="The account's id (acc_…)."),
    reason: str | None = typer.Option(
        None, "--reason", help="Why (for operators; the holder is not sent it)."
    ),
    operator: str = OPERATOR_OPTION,
) -> None:
    """Lock the account: no sign-in by password, passkey or recovery until it is
    unlocked; every session ends; the holder is told."""
    view = with_app(
        settings_or_exit(),
        lambda app: admin_accounts.lock(app.deps, account_id, Operator.cli(operator), reason),
    )
    console.print(f"Locked {view.id}; its sessions ended and the holder is told.")


@accounts_cli.command("unlock")
def unlock(
    account_id: str = typer.Argument(..., help="The account's id (acc_…)."),
    operator: str = OPERATOR_OPTION,
) -> None:
    """Unlock the account: sign-in works again; the holder is told."""
    view = with_app(
        settings_or_exit(),
        lambda app: admin_accounts.unlock(app.deps, account_id, Operator.cli(operator)),
    )
    console.print(f"Unlocked {view.id}; the holder is told.")


@accounts_cli.command("revoke-sessions")
def revoke_sessions(
    account_id: str = typer.Argument(..., help="The account's id (acc_…)."),
    operator: str = OPERATOR_OPTION,
) -> None:
    """End every session of the account; the holder is told."""
    count = with_app(
        settings_or_exit(),
        lambda app: admin_accounts.revoke_sessions(app.deps, account_id, Operator.cli(operator)),
    )
    console.print(f"Ended {count} session(s) of {account_id}.")


@accounts_cli.command("cancel-pending-change")
def cancel_pending_change(
    account_id: str = typer.Argument(..., help="The account's id (acc_…)."),
    operator: str = OPERATOR_OPTION,
) -> None:
    """Cancel the account's pending security-info change; every contact is told."""
    with_app(
        settings_or_exit(),
        lambda app: admin_accounts.cancel_pending_change(
            app.deps, account_id, Operator.cli(operator)
        ),
    )
    console.print(f"Canceled the pending change of {account_id}.")


@accounts_cli.command("require-password-reset")
def require_password_reset(
    account_id: str = typer.Argument(..., help="The account's id (acc_…)."),
    operator: str = OPERATOR_OPTION,
) -> None:
    """The next sign-in must reset the password with 'forgot password'; every session
    ends; the holder is told."""
    with_app(
        settings_or_exit(),
        lambda app: admin_accounts.require_password_reset(
            app.deps, account_id, Operator.cli(operator)
        ),
    )
    console.print(f"{account_id} must reset its password before signing in again.")
