"""Running secinfo: ``migrate``, ``serve`` and ``worker``."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer

from secinfo.adapters.migrations import migrate as run_migrations
from secinfo.bootstrap import App, build
from secinfo.cli.common import console, settings_or_exit, with_app
from secinfo.config import Settings


def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = settings_or_exit()
    with_app(settings, lambda app: run_migrations(app.engine, box=app.box))
    console.print("Database schema is up to date.")


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

    settings = settings_or_exit()
    overrides = {name: value for name, value in (("host", host), ("port", port)) if value}
    if overrides:
        # Validated like the environment; links in notices then follow the chosen port.
        settings = settings_or_exit(**overrides)
    if auto_migrate:
        with_app(settings, lambda app: run_migrations(app.engine, box=app.box))
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
        http=protocol_with(settings.http_header_timeout_seconds, settings.http_max_header_bytes),
        timeout_keep_alive=settings.http_keep_alive_seconds,
        limit_concurrency=settings.http_limit_concurrency,
        # Only for the h11 fallback: the httptools protocol enforces the limit itself.
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


def run_worker(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Deliver queued messages until stopped (SIGTERM finishes the sends in flight)."""
    from secinfo.runtime import tune_garbage_collector
    from secinfo.scheduler import JobLoop
    from secinfo.worker import DeliveryLoop

    settings = settings_or_exit()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=settings.host)

    async def run(app: App) -> None:
        loop = DeliveryLoop(
            app.deliverer,
            idle_seconds=settings.delivery_poll_seconds,
            gather_seconds=settings.delivery_gather_ms / 1000,
        )
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

    with_app(settings, run)
