"""What every command group of the ``secinfo`` command shares: settings read and
validated (a bad one is named, exit 2), and the app built for one action and closed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console

from secinfo.bootstrap import App, build
from secinfo.config import ConfigError, Settings, load_settings
from secinfo.domain.errors import DomainError
from secinfo.logging import configure_logging

console = Console()
T = TypeVar("T")


def settings_or_exit(**overrides: object) -> Settings:
    try:
        settings = load_settings(**overrides)
    except ConfigError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def with_app(settings: Settings, action: Callable[[App], Awaitable[T]]) -> T:
    """Build the app, run ``action`` on it, close it; a domain error is printed (exit 1)."""

    async def run() -> T:
        app = build(settings)
        try:
            return await action(app)
        finally:
            await app.close()

    try:
        return asyncio.run(run())
    except DomainError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None
