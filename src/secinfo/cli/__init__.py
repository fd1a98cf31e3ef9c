"""The ``secinfo`` command: one package, one module per command group.

``service`` runs secinfo (migrate, serve, worker); the others are the operators' groups.
"""

from __future__ import annotations

import typer

from secinfo.cli.accounts import accounts_cli
from secinfo.cli.apikeys import apikey_cli
from secinfo.cli.fraud import fraud_cli
from secinfo.cli.keys import keys_cli
from secinfo.cli.operator import operator_cli
from secinfo.cli.outbox import outbox_cli
from secinfo.cli.service import migrate, run_worker, serve
from secinfo.cli.twilio import twilio_cli
from secinfo.cli.webhooks import webhooks_cli

cli = typer.Typer(help="secinfo: security info and verification codes.", no_args_is_help=True)
cli.command()(migrate)
cli.command()(serve)
cli.command("worker")(run_worker)
cli.add_typer(apikey_cli, name="apikey")
cli.add_typer(outbox_cli, name="outbox")
cli.add_typer(fraud_cli, name="fraud")
cli.add_typer(accounts_cli, name="accounts")
cli.add_typer(webhooks_cli, name="webhooks")
cli.add_typer(twilio_cli, name="twilio-credentials")
cli.add_typer(operator_cli, name="operator")
cli.add_typer(keys_cli, name="keys")


def main() -> None:
    cli()
