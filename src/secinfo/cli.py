"""The ``secinfo`` command: serve, worker, migrate and operator commands."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer
from rich.table import Table

from secinfo.adapters.migrations import migrate as run_migrations
from secinfo.bootstrap import App, build
from secinfo.cli_accounts import accounts_cli
from secinfo.cli_common import console, settings_or_exit, with_app
from secinfo.cli_fraud import fraud_cli
from secinfo.cli_operator import operator_cli
from secinfo.cli_outbox import outbox_cli
from secinfo.cli_twilio import twilio_cli
from secinfo.cli_webhooks import webhooks_cli
from secinfo.config import Settings
from secinfo.domain.model import ApiKeyScope
from secinfo.services import api_keys

cli = typer.Typer(help="secinfo: security info and verification codes.", no_args_is_help=True)
apikey_cli = typer.Typer(help="API keys: integrators' and operators'.", no_args_is_help=True)
cli.add_typer(apikey_cli, name="apikey")
cli.add_typer(outbox_cli, name="outbox")
cli.add_typer(fraud_cli, name="fraud")
cli.add_typer(accounts_cli, name="accounts")
cli.add_typer(webhooks_cli, name="webhooks")
cli.add_typer(twilio_cli, name="twilio-credentials")
cli.add_typer(operator_cli, name="operator")
# The shared helpers, under the short names the commands here use.
_settings = settings_or_exit
_with_app = with_app


@cli.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = _settings()
    _with_app(settings, lambda app: run_migrations(app.engine))
    console.print("Database schema is up to date.")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Deliver the outbox in this process.")
    ] = True,
    auto_migrate: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Migrate the schema first.")
    ] = True,
) -> None:
    """Run the HTTP service (and, by default, an in-process delivery loop)."""
    import uvicorn

    from secinfo.api.app import create_app
    from secinfo.api.slow_clients import protocol_with

    settings = _settings()
    overrides = {name: value for name, value in (("host", host), ("port", port)) if value}
    if overrides:
        # Validated like the environment; links in notices then follow the chosen port.
        settings = _settings(**overrides)
    if auto_migrate:
        _with_app(settings, lambda app: run_migrations(app.engine))
    _print_banner(settings)
    application = create_app(build(settings), run_delivery=worker)
    # uvicorn re-raises the signal that stopped it once it has shut down; a handler of
    # our own turns that into a clean exit (status 0, no "Terminated" from make).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
        http=protocol_with(settings.http_header_timeout_seconds),
        timeout_keep_alive=settings.http_keep_alive_seconds,
        limit_concurrency=settings.http_limit_concurrency,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
    )
    console.print("secinfo stopped.")


def _print_banner(settings: Settings) -> None:
    listen = f"http://{settings.host}:{settings.port}"
    rows = [
        ("Listening on", listen),
        ("Pages", f"{settings.base_url}/"),
        ("API reference", f"{settings.base_url}/docs"),
        ("OpenAPI", f"{settings.base_url}/openapi.json"),
    ]
    if settings.is_development:
        rows.append(("Mailbox", f"{settings.base_url}/dev/mailbox  (every email and SMS)"))
    rows.append(("Database", _database_label(settings.database_url)))
    width = max(len(label) for label, _ in rows)
    lines = [f"secinfo {_version()} ({settings.env} mode)"]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines.append("Press Ctrl-C to stop.")
    # Plain output: a rich console would wrap long lines at the terminal's width.
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _database_label(url: str) -> str:
    """The database URL without a password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("secinfo")
    except PackageNotFoundError:
        return "(source)"


@cli.command("worker")
def run_worker(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Deliver queued messages until stopped (SIGTERM finishes the sends in flight)."""
    from secinfo.runtime import tune_garbage_collector
    from secinfo.scheduler import JobLoop
    from secinfo.worker import DeliveryLoop

    settings = _settings()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=settings.host)

    async def run(app: App) -> None:
        loop = DeliveryLoop(app.deliverer, idle_seconds=settings.delivery_poll_seconds)
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(signum, stop.set)
        tune_garbage_collector()
        loop.start()
        jobs = JobLoop(app.deps, settings.jobs_interval_seconds)
        jobs.start()
        console.print(f"worker {app.deliverer.worker_id} delivering; Ctrl-C to stop")
        await stop.wait()
        await jobs.stop()
        await loop.stop()
        console.print(f"worker {app.deliverer.worker_id} stopped")

    _with_app(settings, run)


@apikey_cli.command("create")
def apikey_create(
    name: str,
    scope: Annotated[
        ApiKeyScope,
        typer.Option(help="verification: the Verify API; admin: the admin API (/v1/admin)."),
    ] = ApiKeyScope.VERIFICATION,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    settings = _settings()
    created = _with_app(settings, lambda app: api_keys.create(app.deps, name, scope))
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
    settings = _settings()
    keys = _with_app(settings, lambda app: api_keys.list_keys(app.deps))
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
    settings = _settings()
    revoked = _with_app(settings, lambda app: api_keys.revoke(app.deps, api_key_id))
    console.print(f"Revoked {revoked.id} ({revoked.name}).")


def main() -> None:
    cli()
